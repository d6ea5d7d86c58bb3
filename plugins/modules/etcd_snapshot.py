#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_snapshot
short_description: Save a verified etcd v3 snapshot and prune old ones by a retention policy
version_added: 0.1.0
description:
  - Picks one healthy, caught-up member among O(endpoints) (a follower when there is one), streams its snapshot
    (C(/v3/maintenance/snapshot)) to C(<name>.db.part) in O(dest_dir) on the target, verifies the SHA-256 trailer
    etcd appends to the stream, fsyncs the file and the directory, renames it to C(<name>.db) and writes a JSON
    metadata sidecar C(<name>.db.json) (revision, cluster id, member, etcd version, sha256, time, size).
  - File names sort by time, in UTC - C(<prefix>-20261121T210000Z-r<revision>.db).
  - Old snapshots are pruned by O(retention) only after the new snapshot has been verified. Files without a valid
    sidecar (for example C(.part) files left by an interrupted run) are never counted as kept copies; they are
    removed once they are older than the newest verified snapshot. The newest verified snapshot is never removed.
  - Snapshots written by earlier versions of this module and by the RAM-disk helper of the C(etcdkit.etcd.ramdisk)
    role (C(snapshot-<time>-r<revision>.db) with a C(snapshot-<time>-r<revision>.json) sidecar, with
    O(prefix=snapshot)) are read, counted and pruned the same way.
  - With O(skip_if_unchanged=true) no snapshot is taken when the cluster revision has not moved since the newest
    verified snapshot of the same cluster in O(dest_dir).
  - Needs only the Python standard library on the target.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
  - etcdkit.etcd.attributes
  - etcdkit.etcd.attributes.action_group
options:
  dest_dir:
    description:
      - Directory on the target that holds the snapshots. Created (mode C(0700)) when missing.
    type: path
    required: true
  prefix:
    description:
      - File name prefix of the snapshots. Retention only looks at files of this prefix.
      - Letters, digits, C(.), C(_) and C(-) only.
    type: str
    default: etcd
  retention:
    description:
      - How many snapshots to keep. A snapshot is kept when any rule selects it. Days, ISO weeks and months are
        calendar periods in UTC, counted back from now (the current one included); the newest snapshot of each
        period is kept.
    type: dict
    default: {}
    suboptions:
      keep_last:
        description: Keep the newest N snapshots.
        type: int
        default: 10
      keep_daily:
        description: Keep the newest snapshot of each of the last N days.
        type: int
        default: 31
      keep_weekly:
        description: Keep the newest snapshot of each of the last N ISO weeks.
        type: int
        default: 0
      keep_monthly:
        description: Keep the newest snapshot of each of the last N months.
        type: int
        default: 0
  skip_if_unchanged:
    description:
      - Do not take a snapshot when the cluster's revision equals the revision of the newest verified snapshot
        of the same cluster in O(dest_dir). Compaction, defragmentation and membership changes do not move the
        revision.
    type: bool
    default: true
  mode:
    description:
      - Permissions of the snapshot and its sidecar. Snapshots hold every key and the auth data of the cluster.
    type: raw
    default: '0600'
  max_raft_lag:
    description:
      - A member is caught up when its applied raft index is at most this far behind the leader's raft index.
    type: int
    default: 1000
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Runs where the snapshot should be stored; the member is reached over the network. Restore a snapshot with
    M(etcdkit.etcd.etcd_restore).
  - The recorded revision is the member's revision right before the snapshot; the snapshot holds at least that
    revision.
seealso:
  - module: etcdkit.etcd.etcd_restore
'''

EXAMPLES = r'''
- name: Nightly snapshot, keep 10 and one a day for a month
  etcdkit.etcd.etcd_snapshot:
    endpoints: "{{ groups['etcd'] | map('extract', hostvars, 'etcd_client_url') | list }}"
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/client.crt
    client_key: /etc/etcd/pki/client.key
    dest_dir: /var/backups/etcd

- name: Keep a longer history
  etcdkit.etcd.etcd_snapshot:
    endpoints: https://10.0.0.11:2379
    user: root
    password: "{{ etcd_root_password }}"
    dest_dir: /var/backups/etcd
    prefix: prod
    retention:
      keep_last: 5
      keep_daily: 14
      keep_weekly: 8
      keep_monthly: 12
  register: snap

- name: Show where it went
  ansible.builtin.debug:
    msg: "{{ snap.path }} at revision {{ snap.revision }}"
'''

RETURN = r'''
path:
  description: Path of the snapshot taken by this run, or of the newest snapshot when nothing was taken.
  returned: success
  type: str
  sample: /var/backups/etcd/etcd-20261121T210000Z-r1234.db
revision:
  description: Store revision of the snapshot.
  returned: success
  type: int
  sample: 1234
size:
  description: Size in bytes of the snapshot file (including the 32-byte SHA-256 trailer). V(null) in check mode.
  returned: success
  type: int
  sample: 20512
sha256:
  description: SHA-256 of the whole snapshot file, as C(sha256sum) prints it. V(null) in check mode.
  returned: success
  type: str
  sample: 9f2c7d0d7a3f1b5c1e4f5a8b2c6d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f809
saved:
  description: Whether a new snapshot was (or in check mode would be) taken.
  returned: success
  type: bool
  sample: true
member:
  description: The member the snapshot was (or would be) streamed from.
  returned: success
  type: dict
  sample: {"endpoint": "https://10.0.0.12:2379", "member_id": "8e9e05c52164694d", "name": "etcd2", "version": "3.5.1"}
cluster_id:
  description: Cluster id (16 hex digits).
  returned: success
  type: str
  sample: cdf818194e3a8c32
kept:
  description: Snapshot files kept by the retention policy, newest first, with the reasons.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "etcd-20261121T210000Z-r1234.db", "reasons": ["last", "daily 2026-11-21"]}]
pruned:
  description: Snapshot files (and their sidecars or partial files) removed, or that would be removed in check mode.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "etcd-20261020T210000Z-r1001.db", "reason": "outside retention policy",
            "files": ["/var/backups/etcd/etcd-20261020T210000Z-r1001.db", "/var/backups/etcd/etcd-20261020T210000Z-r1001.db.json"]}]
'''

import os

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.etcdkit.etcd.plugins.module_utils import _snapstore as store
from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import choose_snapshot_member, find_leader
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import utc_now
from ansible_collections.etcdkit.etcd.plugins.module_utils._retention import DEFAULT_POLICY, normalize_policy
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id

ARGUMENT_SPEC = dict(
    dest_dir=dict(type='path', required=True),
    prefix=dict(type='str', default='etcd'),
    retention=dict(type='dict', default={}, options=dict(
        (key, dict(type='int', default=value)) for key, value in DEFAULT_POLICY.items())),
    skip_if_unchanged=dict(type='bool', default=True),
    mode=dict(type='raw', default='0600'),
    max_raft_lag=dict(type='int', default=1000),
)


def check_params(module):
    p = module.params
    if not store.valid_prefix(p['prefix']):
        module.fail('prefix must be made of letters, digits, ".", "_" and "-", got %r.' % (p['prefix'],))
    try:
        normalize_policy(p['retention'])
    except ValueError as exc:
        module.fail('retention: %s.' % exc)
    module.require_non_negative('max_raft_lag')
    if os.path.exists(p['dest_dir']) and not os.path.isdir(p['dest_dir']):
        module.fail('dest_dir %s exists and is not a directory.' % p['dest_dir'])


def source_member(module, client):
    """The member to stream from (a healthy, caught-up follower when there is one) and its name."""
    probes = client.endpoint_report()
    leader_endpoint, leader = find_leader(client, probes=probes)
    chosen, problems = choose_snapshot_member(probes, leader['raft_index'] if leader_endpoint else None,
                                              module.params['max_raft_lag'])
    if chosen is None:
        module.fail('No healthy, caught-up member to take the snapshot from: %s' % '; '.join(problems),
                    endpoints=probes)
    # the member list also proves early that the credentials work
    names = dict((m['id'], m['name']) for m in client.member_list()['members'])
    return chosen, dict(endpoint=chosen['endpoint'], member_id=format_id(chosen['member_id']),
                        name=names.get(chosen['member_id']), version=chosen.get('version'))


def take(module, client, chosen, member, now, created_dir):
    """Stream, verify and store the snapshot; returns the scan entry of the new snapshot."""
    p = module.params
    base = store.snapshot_basename(p['prefix'], now, chosen['revision'])
    path = os.path.join(p['dest_dir'], base)
    module.result.update(saved=True, changed=True, path=path, revision=chosen['revision'])
    entry = dict(name=base, time=now, verified=True, files=[], path=path, revision=chosen['revision'])
    if module.check_mode:
        return entry
    module.result['changed'] = created_dir  # until the snapshot is in place
    try:
        sidecar = store.save_stream(
            client.snapshot(chosen['endpoint']), p['dest_dir'], base,
            dict(revision=chosen['revision'], cluster_id=format_id(chosen['cluster_id']),
                 member_id=member['member_id'], member_name=member['name'], etcd_version=member['version'],
                 created=now, endpoint=chosen['endpoint'], db_size=chosen.get('db_size'),
                 raft_index=chosen.get('raft_index')))
    except store.SnapshotFileError as exc:
        module.fail('Snapshot from %s failed verification: %s. Nothing was kept or pruned.'
                    % (chosen['endpoint'], exc))
    except (IOError, OSError) as exc:
        module.fail('Cannot write the snapshot to %s: %s. Nothing was kept or pruned.' % (path, to_native(exc)))
    module.result.update(changed=True, size=sidecar['size'], sha256=sidecar['sha256'])
    for name in (path, path + store.SIDECAR_SUFFIX):
        module.set_mode_if_different(name, p['mode'], False)
    entry['files'] = [path, path + store.SIDECAR_SUFFIX]
    return entry


def run(module):
    p = module.params
    check_params(module)
    client = module.client
    chosen, member = source_member(module, client)
    cluster_id = format_id(chosen['cluster_id'])
    module.result.update(saved=False, member=member, cluster_id=cluster_id, path=None, revision=None, size=None,
                         sha256=None, kept=[], pruned=[])
    created_dir = False
    if not os.path.isdir(p['dest_dir']) and not module.check_mode:
        try:
            os.makedirs(p['dest_dir'], 0o700)
        except OSError as exc:
            module.fail('Cannot create dest_dir %s: %s' % (p['dest_dir'], to_native(exc)))
        module.result['changed'] = created_dir = True
    lock = None if module.check_mode else store.lock_dir(p['dest_dir'], p['prefix'])
    existing = store.scan(p['dest_dir'], p['prefix'])
    newest = store.newest_verified(existing, cluster_id)
    now = utc_now()
    if p['skip_if_unchanged'] and newest is not None and newest['revision'] == chosen['revision']:
        module.result.update(path=newest['path'], revision=newest['revision'], size=newest['sidecar'].get('size'),
                             sha256=newest['sidecar'].get('sha256'))
    else:
        new = take(module, client, chosen, member, now, created_dir)
        existing = [e for e in existing if e['name'] != new['name']] + [new]
    plan = store.plan_prune(existing, p['retention'], now)
    module.result.update(kept=plan['keep'], pruned=plan['prune'])
    if plan['prune']:
        module.result['changed'] = True
        if not module.check_mode:
            try:
                store.prune(p['dest_dir'], plan)
            except OSError as exc:
                module.fail('Cannot remove %s: %s' % (exc.filename, to_native(exc)))
    if lock is not None:
        lock.close()


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == '__main__':
    main()
