#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_restore
short_description: Restore an etcd v3 snapshot into a member's data directory with etcdutl
version_added: 0.1.0
description:
  - Runs on the member host. Verifies the snapshot first - the SHA-256 trailer etcd appends to snapshots, the
    C(sha256) of its metadata sidecar when there is one (C(<snapshot>.json) written by
    M(etcdkit.etcd.etcd_snapshot), or C(<name>.json) next to C(<name>.db) written by the RAM-disk helper of the
    C(etcdkit.etcd.ramdisk) role), and C(etcdutl snapshot status).
  - Restores with C(etcdutl snapshot restore) into a temporary directory next to O(data_dir) (inside it when it
    is a mount point such as a tmpfs), then renames it into place, so O(data_dir) is either untouched or
    completely restored. etcd has no API for this; it is a file operation.
  - Records what was restored (snapshot sha256 and the restore parameters) in C(<data_dir>.etcdkit-restore.json),
    next to the data directory (etcd warns about unknown files inside its data directory on every start). When
    O(data_dir) already holds a restore of the same snapshot with the same parameters, nothing is done.
  - A non-empty O(data_dir) that is not such a restore is only replaced with O(force=true); the old directory is
    then kept as C(<data_dir>.old-<UTC timestamp>).
  - Stop etcd before restoring; the module refuses to replace a data directory that a running process has open.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.attributes
options:
  snapshot:
    description:
      - Path of the snapshot file on the target.
    type: path
    required: true
  data_dir:
    description:
      - The member's data directory (C(--data-dir) of etcd). Its parent directory must exist.
    type: path
    required: true
  name:
    description:
      - Name of the member (C(--name)); etcdutl's default is C(default).
    type: str
  initial_cluster:
    description:
      - The new cluster's members, C(name1=https://10.0.0.11:2380,name2=...) (C(--initial-cluster)).
      - A list of C(name=peer URL) strings is accepted too.
    type: list
    elements: str
  initial_cluster_token:
    description:
      - Token of the new cluster (C(--initial-cluster-token)). Use a new one for every restored cluster.
    type: str
  initial_advertise_peer_urls:
    description:
      - Peer URLs of this member (C(--initial-advertise-peer-urls)).
    type: list
    elements: str
  bump_revision:
    description:
      - Add this to the revision of the restored store (C(--bump-revision)), so that watchers and caches notice
        the restore. Needs an etcdutl that supports it (etcd 3.5.8 or newer); the module fails otherwise.
      - A value above 0 needs O(mark_compacted=true) (etcdutl refuses it otherwise).
    type: int
  mark_compacted:
    description:
      - Mark the restored revision as compacted (C(--mark-compacted)); needs O(bump_revision) above 0.
    type: bool
    default: false
  skip_hash_check:
    description:
      - Restore a file without a valid SHA-256 trailer, such as a C(member/snap/db) copied from a data directory.
    type: bool
    default: false
  force:
    description:
      - Replace a non-empty O(data_dir) that does not hold a restore of this snapshot; the old directory is
        renamed to C(<data_dir>.old-<UTC timestamp>).
    type: bool
    default: false
  etcdutl_path:
    description:
      - Path of the C(etcdutl) binary.
      - By default the cluster's own etcdutl is used - the one next to the C(etcd) binary of the systemd unit whose
        C(--data-dir) (or C(data-dir) in its C(--config-file)) is O(data_dir), as installed by the
        C(etcdkit.etcd.etcd) role - then C(etcdutl) on E(PATH), in C(/usr/local/bin), C(/usr/bin) and
        C(/opt/etcd/bin), then the only C(/opt/etcd/*-current/etcdutl).
    type: path
  owner:
    description:
      - Owner of the restored data directory (recursively), for example the C(etcd) user.
    type: str
  group:
    description:
      - Group of the restored data directory (recursively).
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - This module does not talk to etcd and takes no connection options; it is not part of the C(etcdkit.etcd.etcd)
    action group.
  - Restore every member of the new cluster from the same snapshot with the same O(initial_cluster) and
    O(initial_cluster_token), then start them.
seealso:
  - module: etcdkit.etcd.etcd_snapshot
'''

EXAMPLES = r'''
- name: Restore the newest snapshot on every member (etcd stopped)
  etcdkit.etcd.etcd_restore:
    snapshot: /var/backups/etcd/etcd-20261121T210000Z-r1234.db
    data_dir: /var/lib/etcd
    name: "{{ inventory_hostname }}"
    initial_cluster: "etcd1=https://10.0.0.11:2380,etcd2=https://10.0.0.12:2380,etcd3=https://10.0.0.13:2380"
    initial_cluster_token: etcd-restored-20261121
    initial_advertise_peer_urls: ["https://{{ ansible_host }}:2380"]
    owner: etcd
    group: etcd
    force: true

- name: Restore a db file copied from a data directory (no SHA-256 trailer)
  etcdkit.etcd.etcd_restore:
    snapshot: /root/db
    data_dir: /var/lib/etcd-recovered
    skip_hash_check: true
'''

RETURN = r'''
data_dir:
  description: The restored data directory.
  returned: success
  type: str
  sample: /var/lib/etcd
sha256:
  description: SHA-256 of the snapshot file.
  returned: success
  type: str
  sample: 9f2c7d0d7a3f1b5c1e4f5a8b2c6d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f809
revision:
  description: Revision of the snapshot (from C(etcdutl snapshot status)).
  returned: success
  type: int
  sample: 1234
total_keys:
  description: Number of keys in the snapshot's store (from C(etcdutl snapshot status)).
  returned: success
  type: int
  sample: 1042
backup_dir:
  description: Where the previous content of O(data_dir) was moved (or would be moved in check mode), if anywhere.
  returned: success
  type: str
  sample: /var/lib/etcd.old-20261121T210000Z
marker:
  description: The file that records the restore.
  returned: success
  type: str
  sample: /var/lib/etcd.etcdkit-restore.json
'''

import datetime
import grp
import os
import pwd

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.etcdkit.etcd.plugins.module_utils import _restore as rs
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils import _fsutil as fs
from ansible_collections.etcdkit.etcd.plugins.module_utils._snapstore import SnapshotFileError, verify_file

ARGUMENT_SPEC = dict(
    snapshot=dict(type='path', required=True),
    data_dir=dict(type='path', required=True),
    name=dict(type='str'),
    initial_cluster=dict(type='list', elements='str'),
    initial_cluster_token=dict(type='str', no_log=False),
    initial_advertise_peer_urls=dict(type='list', elements='str'),
    bump_revision=dict(type='int'),
    mark_compacted=dict(type='bool', default=False),
    skip_hash_check=dict(type='bool', default=False),
    force=dict(type='bool', default=False),
    etcdutl_path=dict(type='path'),
    owner=dict(type='str'),
    group=dict(type='str'),
)


def locate_etcdutl(module, data_dir):
    path = module.params['etcdutl_path']
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            module.fail('etcdutl_path %s is not an executable file.' % path)
        return path
    path, how = rs.find_etcdutl(data_dir)
    if not path:
        module.fail('etcdutl was not found: %s. Install etcd or set etcdutl_path.' % how)
    return path


def owner_ids(module):
    """uid, gid (None: unchanged) of the owner and group options."""
    p = module.params
    ids = []
    for value, lookup, what in ((p['owner'], lambda v: pwd.getpwnam(v).pw_uid, 'owner'),
                                (p['group'], lambda v: grp.getgrnam(v).gr_gid, 'group')):
        if value is None:
            ids.append(None)
        elif value.isdigit():
            ids.append(int(value))
        else:
            try:
                ids.append(lookup(value))
            except KeyError:
                module.fail('%s %s does not exist on the target.' % (what, value))
    return ids


def verify(module, snapshot, params):
    try:
        return verify_file(snapshot, check_trailer=not params['skip_hash_check'])
    except SnapshotFileError as exc:
        module.fail('Snapshot %s is not usable: %s. Nothing was changed (skip_hash_check=true restores a db file '
                    'without a trailer).' % (snapshot, exc))


def run(module):
    p = module.params
    snapshot = os.path.abspath(p['snapshot'])
    data_dir = os.path.abspath(p['data_dir']).rstrip(os.sep)
    params = rs.restore_params(
        name=p['name'], initial_cluster=p['initial_cluster'], initial_cluster_token=p['initial_cluster_token'],
        initial_advertise_peer_urls=p['initial_advertise_peer_urls'], skip_hash_check=p['skip_hash_check'],
        bump_revision=p['bump_revision'], mark_compacted=p['mark_compacted'])
    for problem in rs.check_params(params):
        module.fail(problem)
    parent = os.path.dirname(data_dir)
    if not os.path.isdir(parent):
        module.fail('The parent directory %s of data_dir does not exist.' % parent)
    uid, gid = owner_ids(module)
    etcdutl = locate_etcdutl(module, data_dir)
    if params['bump_revision'] is not None or params['mark_compacted']:
        dummy, out, err = module.run_command([etcdutl, 'snapshot', 'restore', '--help'])
        if not rs.supports_flags(out + err):
            module.fail('%s does not support --bump-revision/--mark-compacted (etcd 3.5.8 or newer is needed); unset '
                        'bump_revision and mark_compacted or use a newer etcdutl.' % etcdutl)
    verified = verify(module, snapshot, params)
    status = rs.snapshot_status(etcdutl, snapshot, runner=module.run_command)
    marker_path = data_dir + rs.MARKER_SUFFIX
    module.result.update(data_dir=data_dir, snapshot=snapshot, sha256=verified['sha256'], revision=status['revision'],
                         total_keys=status['total_keys'], backup_dir=None, marker=marker_path, etcdutl=etcdutl)
    wanted = dict(params, snapshot_sha256=verified['sha256'])
    state = fs.dir_state(data_dir)
    if state == 'file':
        module.fail('data_dir %s exists and is not a directory.' % data_dir)
    marker = fs.read_json(marker_path)
    if state == 'nonempty' and marker and os.path.isdir(os.path.join(data_dir, 'member')):
        if dict((k, marker.get(k)) for k in wanted) == wanted:
            return
    if state == 'nonempty':
        if not p['force']:
            why = 'holds a restore of another snapshot or with other parameters' if marker else 'is not empty'
            module.fail('data_dir %s %s; set force=true to move it aside to %s.old-<timestamp> and restore.'
                        % (data_dir, why, data_dir))
        pids = fs.open_by_processes(data_dir)
        if pids:
            module.fail('data_dir %s is in use by process(es) %s (is etcd still running?); stop it first.'
                        % (data_dir, ', '.join(str(x) for x in pids)))
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
        module.result['backup_dir'] = '%s.old-%s' % (data_dir, stamp)
    if module.check_mode:
        module.result['changed'] = True
        return

    def prepare(target):
        if uid is not None or gid is not None:
            fs.chown_tree(target, uid, gid)

    try:
        rs.restore(etcdutl, snapshot, data_dir, params, backup_dir=module.result['backup_dir'],
                   runner=module.run_command, prepare=prepare)
        module.result['changed'] = True
        if marker is not None and module.result['backup_dir']:
            os.rename(marker_path, module.result['backup_dir'] + rs.MARKER_SUFFIX)
        fs.write_json_atomic(marker_path, dict(wanted, snapshot=snapshot, revision=status['revision'],
                                               restored_at=fs.iso_utc()))
    except (IOError, OSError) as exc:
        backup = module.result['backup_dir']
        if backup and os.path.lexists(backup):
            # the old content was already moved aside: that is a change, and the operator must find it
            module.result['changed'] = True
            module.fail('Restore into %s failed after its old content was moved to %s: %s. Move it back, or '
                        'run again.' % (data_dir, backup, to_native(exc)))
        module.fail('Restore into %s failed: %s' % (data_dir, to_native(exc)))


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, connection=False, supports_check_mode=True)


if __name__ == '__main__':
    main()
