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
    C(sha256) of its metadata sidecar C(<snapshot>.json) when there is one (written by
    M(etcdkit.etcd.etcd_snapshot)), and C(etcdutl snapshot status).
  - Restores with C(etcdutl snapshot restore) into a temporary directory next to O(data_dir), then renames it into
    place, so O(data_dir) is either untouched or completely restored.
  - Records what was restored (snapshot sha256 and the restore parameters) in C(<data_dir>.etcdkit-restore.json),
    next to the data directory (etcd warns about unknown files inside its data directory on every start). When
    O(data_dir) already holds a restore of the same snapshot with the same parameters, nothing is done.
  - A non-empty O(data_dir) that is not such a restore is only replaced with O(force=true); the old directory is
    then kept as C(<data_dir>.old-<UTC timestamp>).
  - Stop etcd before restoring; the module refuses to replace a data directory that a running process has open.
author:
  - etcdkit maintainers (@etcdkit)
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
    type: int
  mark_compacted:
    description:
      - Mark the restored revision as compacted (C(--mark-compacted)); needs O(bump_revision).
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
      - Path of the C(etcdutl) binary. By default it is looked up on E(PATH) and in C(/usr/local/bin).
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
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
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
import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.etcdkit.etcd.plugins.module_utils import _snapstore as snapfiles
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import fsync_dir, read_json, write_json_atomic

MARKER_SUFFIX = '.etcdkit-restore.json'


def open_by_processes(path):
    """PIDs of processes with a file open below ``path`` (Linux /proc; empty elsewhere)."""
    path = os.path.realpath(path)
    pids = []
    try:
        proc_entries = os.listdir('/proc')
    except OSError:
        return pids
    for pid in proc_entries:
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        fd_dir = os.path.join('/proc', pid, 'fd')
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target == path or target.startswith(path + os.sep):
                pids.append(int(pid))
                break
    return pids


def verify_snapshot(module, snapshot, skip_hash_check):
    if not os.path.exists(snapshot):
        module.fail_json(msg='Snapshot %s does not exist; nothing was changed.' % snapshot)
    if not os.path.isfile(snapshot):
        module.fail_json(msg='Snapshot %s is not a regular file; nothing was changed.' % snapshot)
    try:
        hasher = snapfiles.hash_file(snapshot)
    except snapfiles.SnapshotFileError as exc:
        module.fail_json(msg='Snapshot %s: %s; nothing was changed.' % (snapshot, exc))
    if not skip_hash_check:
        try:
            hasher.check()
        except snapfiles.SnapshotFileError as exc:
            module.fail_json(msg='Snapshot %s is not usable: %s. Nothing was changed (skip_hash_check=true restores '
                             'a db file without a trailer).' % (snapshot, exc))
    sidecar, fmt, sidecar_path = snapfiles.read_sidecar(snapshot)
    if fmt == 'invalid':
        module.fail_json(msg='Metadata sidecar %s is not valid JSON; nothing was changed.' % sidecar_path)
    if sidecar and sidecar.get('sha256') and sidecar['sha256'] != hasher.hexdigest():
        module.fail_json(msg='Snapshot %s does not match its metadata sidecar %s (sha256 %s, expected %s): the file '
                         'is corrupt or was replaced; nothing was changed.'
                         % (snapshot, sidecar_path, hasher.hexdigest(), sidecar['sha256']))
    return hasher


def etcdutl_status(module, etcdutl, snapshot):
    rc, out, err = module.run_command([etcdutl, 'snapshot', 'status', '-w', 'json', snapshot])
    if rc != 0:
        module.fail_json(msg='etcdutl snapshot status rejected %s: %s; nothing was changed.'
                         % (snapshot, (err or out).strip()), rc=rc)
    try:
        status = json.loads(out)
    except ValueError:
        module.fail_json(msg='etcdutl snapshot status printed no JSON for %s: %s' % (snapshot, out.strip()))
    return status


def restore_args(p):
    """The parameters that define the restored data (recorded in the marker)."""
    initial_cluster = p['initial_cluster']
    if initial_cluster:
        initial_cluster = ','.join(x.strip() for x in initial_cluster if x and x.strip())
    return dict(
        name=p['name'], initial_cluster=initial_cluster or None,
        initial_cluster_token=p['initial_cluster_token'],
        initial_advertise_peer_urls=','.join(p['initial_advertise_peer_urls']) if p['initial_advertise_peer_urls'] else None,
        bump_revision=p['bump_revision'], mark_compacted=p['mark_compacted'], skip_hash_check=p['skip_hash_check'],
    )


def build_command(etcdutl, snapshot, target, args):
    cmd = [etcdutl, 'snapshot', 'restore', snapshot, '--data-dir', target]
    for key, flag in (('name', '--name'), ('initial_cluster', '--initial-cluster'),
                      ('initial_cluster_token', '--initial-cluster-token'),
                      ('initial_advertise_peer_urls', '--initial-advertise-peer-urls')):
        if args[key]:
            cmd += [flag, args[key]]
    if args['bump_revision'] is not None:
        cmd += ['--bump-revision', str(args['bump_revision'])]
    if args['mark_compacted']:
        cmd.append('--mark-compacted')
    if args['skip_hash_check']:
        cmd.append('--skip-hash-check')
    return cmd


def dir_state(path):
    """'missing', 'empty' or 'nonempty' (fails for a file)."""
    if not os.path.lexists(path):
        return 'missing'
    if not os.path.isdir(path):
        return 'file'
    return 'nonempty' if os.listdir(path) else 'empty'


def run(module):
    p = module.params
    snapshot = os.path.abspath(p['snapshot'])
    data_dir = os.path.abspath(p['data_dir']).rstrip(os.sep)
    if p['bump_revision'] is not None and p['bump_revision'] < 0:
        module.fail_json(msg='bump_revision must be >= 0, got %d.' % p['bump_revision'])
    if p['mark_compacted'] and p['bump_revision'] is None:
        module.fail_json(msg='mark_compacted needs bump_revision (etcdutl refuses it alone).')
    parent = os.path.dirname(data_dir)
    if not os.path.isdir(parent):
        module.fail_json(msg='The parent directory %s of data_dir does not exist.' % parent)

    etcdutl = p['etcdutl_path']
    if etcdutl:
        if not (os.path.isfile(etcdutl) and os.access(etcdutl, os.X_OK)):
            module.fail_json(msg='etcdutl_path %s is not an executable file.' % etcdutl)
    else:
        etcdutl = module.get_bin_path('etcdutl', opt_dirs=['/usr/local/bin', '/opt/etcd/bin'])
        if not etcdutl:
            module.fail_json(msg='etcdutl was not found on PATH or in /usr/local/bin; install etcd or set '
                             'etcdutl_path.')

    args = restore_args(p)
    if args['bump_revision'] is not None or args['mark_compacted']:
        dummy, out, err = module.run_command([etcdutl, 'snapshot', 'restore', '--help'])
        if '--bump-revision' not in (out + err):
            module.fail_json(msg='%s does not support --bump-revision/--mark-compacted (etcd 3.5.8 or newer is '
                             'needed); unset bump_revision and mark_compacted or use a newer etcdutl.' % etcdutl)

    hasher = verify_snapshot(module, snapshot, p['skip_hash_check'])
    status = etcdutl_status(module, etcdutl, snapshot)
    sha256 = hasher.hexdigest()
    marker_path = data_dir + MARKER_SUFFIX
    result = dict(changed=False, data_dir=data_dir, snapshot=snapshot, sha256=sha256,
                  revision=int(status.get('revision') or 0), total_keys=int(status.get('totalKey') or 0),
                  backup_dir=None, marker=marker_path)
    wanted = dict(snapshot_sha256=sha256, **args)

    state = dir_state(data_dir)
    if state == 'file':
        module.fail_json(msg='data_dir %s exists and is not a directory.' % data_dir, **result)
    marker = read_json(marker_path)
    if state == 'nonempty' and marker and os.path.isdir(os.path.join(data_dir, 'member')):
        recorded = dict((k, marker.get(k)) for k in wanted)
        if recorded == wanted:
            module.exit_json(**result)
    if state == 'nonempty' and not p['force']:
        why = 'holds a restore of another snapshot or with other parameters' if marker else 'is not empty'
        module.fail_json(msg='data_dir %s %s; set force=true to move it aside to %s.old-<timestamp> and restore.'
                         % (data_dir, why, data_dir), **result)
    if state == 'nonempty':
        pids = open_by_processes(data_dir)
        if pids:
            module.fail_json(msg='data_dir %s is in use by process(es) %s (is etcd still running?); stop it first.'
                             % (data_dir, ', '.join(str(x) for x in pids)), **result)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
        result['backup_dir'] = '%s.old-%s' % (data_dir, stamp)
    result['changed'] = True
    if module.check_mode:
        module.exit_json(**result)

    mount = os.path.ismount(data_dir) if state != 'missing' else False
    # restore next to the target (same file system) or, for a mount point, inside it
    tmp_parent = data_dir if mount else parent
    tmp_root = tempfile.mkdtemp(prefix='.%s.etcdkit-restore-' % os.path.basename(data_dir), dir=tmp_parent)
    target = os.path.join(tmp_root, 'data')
    try:
        rc, out, err = module.run_command(build_command(etcdutl, snapshot, target, args))
        if rc != 0:
            module.fail_json(msg='etcdutl snapshot restore failed (rc=%d): %s; data_dir was not changed.'
                             % (rc, (err or out).strip()[-2000:]), **dict(result, changed=False))
        os.chmod(target, 0o700)
        if p['owner'] or p['group']:
            for root, dirs, files in os.walk(target):
                for name in [root] + [os.path.join(root, x) for x in dirs + files]:
                    module.set_owner_if_different(name, p['owner'], False)
                    module.set_group_if_different(name, p['group'], False)
        if state == 'nonempty':
            if mount:
                os.mkdir(result['backup_dir'], 0o700)
                for entry in os.listdir(data_dir):
                    if os.path.join(data_dir, entry) != tmp_root:
                        shutil.move(os.path.join(data_dir, entry), os.path.join(result['backup_dir'], entry))
            else:
                os.rename(data_dir, result['backup_dir'])
            if marker is not None:
                os.rename(marker_path, result['backup_dir'] + MARKER_SUFFIX)
        if mount:
            for entry in os.listdir(target):
                os.rename(os.path.join(target, entry), os.path.join(data_dir, entry))
        else:
            # replaces a missing or empty directory atomically
            os.rename(target, data_dir)
        fsync_dir(parent)
        write_json_atomic(marker_path, dict(
            wanted, snapshot=snapshot, revision=result['revision'],
            restored_at=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')))
    except (IOError, OSError) as exc:
        module.fail_json(msg='Restore into %s failed: %s' % (data_dir, to_native(exc)), **result)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
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
        ),
        supports_check_mode=True,
    )
    run(module)


if __name__ == '__main__':
    main()
