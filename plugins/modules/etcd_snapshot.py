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
  - With O(skip_if_unchanged=true) no snapshot is taken when the cluster revision has not moved since the newest
    verified snapshot of the same cluster in O(dest_dir).
  - Needs only the Python standard library on the target.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
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
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
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

import datetime
import fcntl
import os
import re

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdError, format_id
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils._retention import plan_retention
from ansible_collections.etcdkit.etcd.plugins.module_utils import _snapstore as snapfiles
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import fsync_dir, write_json_atomic

_UTC = datetime.timezone.utc


def _fmt_time(when):
    return when.astimezone(_UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def pick_member(module, client, max_lag):
    """Probe every endpoint; return (chosen probe, all probes). Fails the module when none qualifies."""
    probes = client.endpoint_report()
    reachable = [p for p in probes if p.get('member_id')]
    cluster_ids = set(p['cluster_id'] for p in reachable)
    if len(cluster_ids) > 1:
        module.fail_json(msg='The endpoints belong to different clusters (%s); give endpoints of one cluster.'
                         % ', '.join(sorted(format_id(c) for c in cluster_ids)), endpoints=probes)
    leader_ref = None
    for probe in reachable:
        if probe.get('is_leader'):
            leader_ref = probe.get('raft_index')
    if leader_ref is None:
        # the leader is not among the endpoints: ask it through the client URLs of the member list
        leader_ids = set(p['leader_id'] for p in reachable if p.get('leader_id'))
        if len(leader_ids) == 1:
            try:
                members = client.member_list()['members']
            except EtcdError:
                members = []
            for member in members:
                if member['id'] in leader_ids:
                    for url in member['client_urls']:
                        probe = client.probe(url)
                        if probe.get('is_leader'):
                            leader_ref = probe.get('raft_index')
                            break
    candidates = []
    problems = []
    for probe in probes:
        reason = None
        if not probe.get('healthy'):
            reason = probe.get('error') or 'unhealthy'
        elif probe.get('is_learner'):
            reason = 'is a learner'
        elif leader_ref is not None and leader_ref - (probe.get('raft_applied_index') or 0) > max_lag:
            reason = 'applied index %s is more than %d behind the leader (%s)' % (
                probe.get('raft_applied_index'), max_lag, leader_ref)
        if reason:
            problems.append('%s: %s' % (probe['endpoint'], reason))
        else:
            candidates.append(probe)
    if not candidates:
        module.fail_json(msg='No healthy, caught-up member to take the snapshot from: %s' % '; '.join(problems),
                         endpoints=probes)
    # prefer followers, then the least lag, then the order of the endpoints
    order = dict((p['endpoint'], i) for i, p in enumerate(probes))
    candidates.sort(key=lambda p: (bool(p.get('is_leader')), -(p.get('raft_applied_index') or 0),
                                   order[p['endpoint']]))
    return candidates[0], probes


def member_name(client, member_id):
    """Name of the member; also proves early that the credentials work (raises EtcdError)."""
    for member in client.member_list()['members']:
        if member['id'] == member_id:
            return member['name']
    return None


def stream_snapshot(client, endpoint, part_path):
    """Stream into part_path; return the TrailerHasher. The part file is removed on any failure."""
    hasher = snapfiles.TrailerHasher()
    fd = os.open(part_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, 'wb') as fh:
            for chunk in client.snapshot(endpoint):
                fh.write(chunk)
                hasher.update(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        hasher.check()
    except BaseException:
        try:
            os.unlink(part_path)
        except OSError:
            pass
        raise
    return hasher


def run(module):
    p = module.params
    dest_dir = p['dest_dir']
    prefix = p['prefix']
    if not re.match(r'^[A-Za-z0-9._-]+$', prefix or ''):
        module.fail_json(msg='prefix must be made of letters, digits, ".", "_" and "-", got %r.' % (prefix,))
    retention = dict((k, v) for k, v in (p['retention'] or {}).items() if v is not None)
    for key, value in retention.items():
        if value < 0:
            module.fail_json(msg='retention.%s must be >= 0, got %d.' % (key, value))
    if p['max_raft_lag'] < 0:
        module.fail_json(msg='max_raft_lag must be >= 0, got %d.' % p['max_raft_lag'])
    if os.path.exists(dest_dir) and not os.path.isdir(dest_dir):
        module.fail_json(msg='dest_dir %s exists and is not a directory.' % dest_dir)

    client = module.client
    chosen, probes = pick_member(module, client, p['max_raft_lag'])
    endpoint = chosen['endpoint']
    cluster_id = format_id(chosen['cluster_id'])
    member = dict(endpoint=endpoint, member_id=format_id(chosen['member_id']),
                  name=member_name(client, chosen['member_id']), version=chosen.get('version'))

    result = dict(changed=False, saved=False, member=member, cluster_id=cluster_id, path=None, revision=None,
                  size=None, sha256=None, kept=[], pruned=[])

    created_dir = False
    if not os.path.isdir(dest_dir):
        if not module.check_mode:
            try:
                os.makedirs(dest_dir, 0o700)
            except OSError as exc:
                module.fail_json(msg='Cannot create dest_dir %s: %s' % (dest_dir, to_native(exc)), **result)
            created_dir = True
    lock_fh = None
    if not module.check_mode:
        try:
            lock_fh = open(os.path.join(dest_dir, '.%s.lock' % prefix), 'a')
            fcntl.flock(lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            module.fail_json(msg='Another etcd_snapshot run holds the lock on %s (prefix %s), or the lock file '
                             'cannot be created: %s' % (dest_dir, prefix, to_native(exc)), **result)
    existing = snapfiles.scan(dest_dir, prefix) if os.path.isdir(dest_dir) else []

    # newest verified snapshot of this cluster
    newest = None
    for entry in sorted(existing, key=lambda e: (e['time'], e['name']), reverse=True):
        if entry['verified'] and (entry['sidecar'] or {}).get('cluster_id') == cluster_id:
            newest = entry
            break

    revision = chosen['revision']
    now = datetime.datetime.now(_UTC).replace(microsecond=0)
    take = not (p['skip_if_unchanged'] and newest is not None and newest['sidecar'].get('revision') == revision)

    new_entry = None
    if take:
        base = snapfiles.snapshot_basename(prefix, now, revision)
        path = os.path.join(dest_dir, base)
        result.update(saved=True, changed=True, path=path, revision=revision)
        if not module.check_mode:
            result['changed'] = created_dir  # until the snapshot is in place
            part = path + snapfiles.PART_SUFFIX
            try:
                hasher = stream_snapshot(client, endpoint, part)
            except snapfiles.SnapshotFileError as exc:
                module.fail_json(msg='Snapshot from %s failed verification: %s. Nothing was kept or pruned.'
                                 % (endpoint, exc), **result)
            except EtcdError as exc:
                module.fail_json(msg='Snapshot from %s failed: %s. Nothing was kept or pruned.' % (endpoint, exc),
                                 error=exc.to_dict(), **result)
            except (IOError, OSError) as exc:
                module.fail_json(msg='Cannot write the snapshot to %s: %s. Nothing was kept or pruned.'
                                 % (part, to_native(exc)), **result)
            result['changed'] = True
            os.rename(part, path)
            fsync_dir(dest_dir)
            module.set_mode_if_different(path, p['mode'], False)
            metadata = dict(
                name=base, revision=revision, cluster_id=cluster_id, member_id=member['member_id'],
                member_name=member['name'], endpoint=endpoint, etcd_version=member['version'],
                sha256=hasher.hexdigest(), size=hasher.size, time=_fmt_time(now), trailer='sha256',
                db_size=chosen.get('db_size'), raft_index=chosen.get('raft_index'),
            )
            write_json_atomic(path + snapfiles.SIDECAR_SUFFIX, metadata)
            module.set_mode_if_different(path + snapfiles.SIDECAR_SUFFIX, p['mode'], False)
            result.update(size=hasher.size, sha256=hasher.hexdigest())
        new_entry = dict(name=base, time=now, verified=True, files=[], path=path, revision=revision)
        existing = [e for e in existing if e['name'] != base] + [new_entry]
        if not module.check_mode:
            new_entry['files'] = [path, path + snapfiles.SIDECAR_SUFFIX]
    else:
        result.update(path=newest['path'], revision=newest['sidecar'].get('revision'),
                      size=newest['sidecar'].get('size'), sha256=newest['sidecar'].get('sha256'))

    plan = plan_retention(existing, retention, now)
    by_name = dict((e['name'], e) for e in existing)
    result['kept'] = [dict(name=k['name'], reasons=k['reasons']) for k in plan['keep']]
    pruned = []
    for item in plan['prune']:
        files = sorted(by_name[item['name']]['files'])
        pruned.append(dict(name=item['name'], reason=item['reason'], files=files))
    result['pruned'] = pruned
    if pruned:
        result['changed'] = True
        if not module.check_mode:
            for item in pruned:
                for path in item['files']:
                    try:
                        os.unlink(path)
                    except OSError as exc:
                        if os.path.exists(path):
                            module.fail_json(msg='Cannot remove %s: %s' % (path, to_native(exc)), **result)
            fsync_dir(dest_dir)
    if created_dir:
        result['changed'] = True
    if lock_fh is not None:
        lock_fh.close()
    module.exit_json(**result)


def main():
    module = EtcdModule(
        argument_spec=dict(
            dest_dir=dict(type='path', required=True),
            prefix=dict(type='str', default='etcd'),
            retention=dict(type='dict', default={}, options=dict(
                keep_last=dict(type='int', default=10),
                keep_daily=dict(type='int', default=31),
                keep_weekly=dict(type='int', default=0),
                keep_monthly=dict(type='int', default=0),
            )),
            skip_if_unchanged=dict(type='bool', default=True),
            mode=dict(type='raw', default='0600'),
            max_raft_lag=dict(type='int', default=1000),
        ),
        supports_check_mode=True,
    )
    module.run(lambda: run(module))


if __name__ == '__main__':
    main()
