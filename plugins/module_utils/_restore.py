# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Restore of a snapshot into a data directory (standard library only).

etcd has no API for this: restoring is a file operation done by ``etcdutl snapshot restore`` (etcd 3.6 removed
``etcdctl snapshot restore``), so this file builds etcdutl command lines, finds the cluster's own etcdutl, and
swaps the restored directory in atomically. Running the command is left to the caller (``module.run_command``
in a module, ``subprocess`` in the RAM-disk helper) through a ``runner(argv) -> (rc, stdout, stderr)``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import glob
import json
import os
import re
import shutil
import subprocess
import tempfile

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import fsync_dir

MARKER_SUFFIX = '.etcdkit-restore.json'
# where the etcd role and the official archives put etcdutl (the role: /opt/etcd/<cluster>-current/)
DEFAULT_SEARCH_DIRS = ('/usr/local/bin', '/usr/bin', '/opt/etcd/bin')
ROLE_BIN_GLOB = '/opt/etcd/*-current'
UNIT_DIRS = ('/etc/systemd/system', '/run/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system')


class RestoreError(CoreError):
    """A restore that cannot be done; the message says what to fix. Nothing was changed."""


def subprocess_runner(argv, timeout=600):
    """Default runner: ``(rc, stdout, stderr)`` of ``argv`` (no shell, no stdin)."""
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, check=False)
    return proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')


# ------------------------------------------------------------------------------------------- arguments

def join_list(value):
    """A comma-separated flag value from a list or a string (None when empty)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    value = ','.join(x.strip() for x in value if x and x.strip())
    return value or None


def restore_params(name=None, initial_cluster=None, initial_cluster_token=None, initial_advertise_peer_urls=None,
                   wal_dir=None, skip_hash_check=False, bump_revision=None, mark_compacted=False):
    """The parameters that define the restored data (recorded in the restore marker), normalized."""
    return dict(name=name or None, initial_cluster=join_list(initial_cluster),
                initial_cluster_token=initial_cluster_token or None,
                initial_advertise_peer_urls=join_list(initial_advertise_peer_urls), wal_dir=wal_dir or None,
                bump_revision=bump_revision, mark_compacted=bool(mark_compacted),
                skip_hash_check=bool(skip_hash_check))


def check_params(params):
    """Cross-field rules; a list of what to fix (empty when fine)."""
    problems = []
    if params.get('bump_revision') is not None and params['bump_revision'] < 0:
        problems.append('bump_revision must be >= 0, got %d.' % params['bump_revision'])
    if params.get('mark_compacted') and params.get('bump_revision') is None:
        problems.append('mark_compacted needs bump_revision (etcdutl refuses it alone).')
    return problems


def restore_argv(etcdutl, snapshot, data_dir, params):
    """``etcdutl snapshot restore`` argv for ``restore_params(...)``."""
    argv = [etcdutl, 'snapshot', 'restore', snapshot, '--data-dir', data_dir]
    for key, flag in (('name', '--name'), ('initial_cluster', '--initial-cluster'),
                      ('initial_cluster_token', '--initial-cluster-token'),
                      ('initial_advertise_peer_urls', '--initial-advertise-peer-urls'), ('wal_dir', '--wal-dir')):
        if params.get(key):
            argv += [flag, params[key]]
    if params.get('bump_revision') is not None:
        argv += ['--bump-revision', str(params['bump_revision'])]
    if params.get('mark_compacted'):
        argv.append('--mark-compacted')
    if params.get('skip_hash_check'):
        argv.append('--skip-hash-check')
    return argv


def status_argv(etcdutl, snapshot):
    return [etcdutl, 'snapshot', 'status', '-w', 'json', snapshot]


def parse_status(text):
    """``{'hash', 'revision', 'total_keys', 'total_size'}`` from ``etcdutl snapshot status -w json``; None when
    the text is not that JSON."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return dict(hash=data.get('hash'), revision=int(data.get('revision') or 0),
                total_keys=int(data.get('totalKey') or 0), total_size=int(data.get('totalSize') or 0))


def supports_flags(help_text, flags=('--bump-revision', '--mark-compacted')):
    """Does ``etcdutl snapshot restore --help`` list all ``flags``? (3.5.8+ has bump/mark)."""
    return all(flag in (help_text or '') for flag in flags)


def snapshot_status(etcdutl, snapshot, runner=subprocess_runner):
    """Parsed ``etcdutl snapshot status`` of ``snapshot``; raises RestoreError when etcdutl rejects it."""
    rc, out, err = runner(status_argv(etcdutl, snapshot))
    if rc != 0:
        raise RestoreError('etcdutl snapshot status rejected %s: %s' % (snapshot, (err or out).strip()[-800:]))
    status = parse_status(out)
    if status is None:
        raise RestoreError('etcdutl snapshot status printed no JSON for %s: %s' % (snapshot, out.strip()[:300]))
    return status


# --------------------------------------------------------------------------------------- finding etcdutl

def _unit_execs(unit_dirs):
    """``[(etcd binary, argv text)]`` of every systemd unit whose ExecStart runs a binary named etcd."""
    out = []
    for udir in unit_dirs:
        for path in sorted(glob.glob(os.path.join(udir, '*.service'))):
            try:
                with open(path) as fh:
                    text = fh.read()
            except (IOError, OSError):
                continue
            for line in text.splitlines():
                match = re.match(r'^\s*ExecStart\s*=\s*[-@:+!]*(\S+)(.*)$', line)
                if match and os.path.basename(match.group(1)) == 'etcd':
                    out.append((match.group(1), match.group(2)))
    return out


def _serves_data_dir(args, data_dir):
    """Does an etcd started with ``args`` use ``data_dir`` (flag, or a --config-file that names it)?"""
    data_dir = os.path.normpath(data_dir)
    match = re.search(r'--data-dir[= ](\S+)', args)
    if match:
        return os.path.normpath(match.group(1)) == data_dir
    match = re.search(r'--config-file[= ](\S+)', args)
    if match:
        try:
            with open(match.group(1)) as fh:
                for line in fh:
                    found = re.match(r'^\s*data-dir\s*:\s*[\'"]?([^\'"#\s]+)', line)
                    if found:
                        return os.path.normpath(found.group(1)) == data_dir
        except (IOError, OSError):
            return False
    return False


def find_etcdutl(data_dir=None, path_dirs=None, unit_dirs=UNIT_DIRS, role_glob=ROLE_BIN_GLOB):
    """Find the cluster's own etcdutl: ``(path or None, how)``.

    1. next to the etcd binary of the systemd unit that serves ``data_dir`` (the etcd role's unit and config);
    2. on ``path_dirs`` (default: PATH, then DEFAULT_SEARCH_DIRS);
    3. the etcd role's install dir ``/opt/etcd/<cluster>-current`` when exactly one cluster is installed."""
    def usable(path):
        return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None

    if data_dir:
        for binary, args in _unit_execs(unit_dirs):
            if _serves_data_dir(args, data_dir):
                found = usable(os.path.join(os.path.dirname(binary), 'etcdutl'))
                if found:
                    return found, 'next to the etcd of the systemd unit that serves %s' % data_dir
    if path_dirs is None:
        path_dirs = [d for d in os.environ.get('PATH', '').split(os.pathsep) if d] + list(DEFAULT_SEARCH_DIRS)
    for directory in path_dirs:
        found = usable(os.path.join(directory, 'etcdutl'))
        if found:
            return found, 'on the search path (%s)' % directory
    installs = [p for p in sorted(glob.glob(role_glob)) if usable(os.path.join(p, 'etcdutl'))]
    if len(installs) == 1:
        return os.path.join(installs[0], 'etcdutl'), 'the only etcd install in %s' % os.path.dirname(role_glob)
    return None, ('not found (%s)' % ('several installs: %s' % ', '.join(installs) if installs else
                                      'no systemd unit serves the data dir, none on the search path'))


# ------------------------------------------------------------------------------------------- swap-in

def temp_target(data_dir):
    """``(tmp_root, target)``: a fresh temporary directory on the same file system as ``data_dir`` (inside it
    when it is a mount point, e.g. a tmpfs), and the path etcdutl should restore into."""
    data_dir = data_dir.rstrip(os.sep)
    mount = os.path.isdir(data_dir) and os.path.ismount(data_dir)
    parent = data_dir if mount else os.path.dirname(data_dir)
    tmp_root = tempfile.mkdtemp(prefix='.%s.etcdkit-restore-' % os.path.basename(data_dir), dir=parent)
    return tmp_root, os.path.join(tmp_root, 'data')


def _entries(data_dir, restored):
    """Entries of ``data_dir`` except the one that holds ``restored`` (a temp dir inside a mount point)."""
    inside = os.path.realpath(restored) + os.sep
    return [e for e in os.listdir(data_dir)
            if not inside.startswith(os.path.realpath(os.path.join(data_dir, e)) + os.sep)]


def swap_in(restored, data_dir, backup_dir=None):
    """Put the restored directory in place of ``data_dir``.

    - missing or empty ``data_dir``: renamed into place (a mount point, e.g. a tmpfs: its entries are moved in);
    - non-empty ``data_dir``: needs ``backup_dir``, where the old content goes (kept, never deleted here).

    fsyncs the parent directory. Raises RestoreError for a non-empty ``data_dir`` without ``backup_dir``."""
    data_dir = data_dir.rstrip(os.sep)
    if os.path.lexists(data_dir) and not os.path.isdir(data_dir):
        raise RestoreError('%s exists and is not a directory' % data_dir)
    exists = os.path.isdir(data_dir)
    mount = exists and os.path.ismount(data_dir)
    old = _entries(data_dir, restored) if exists else []
    if old:
        if not backup_dir:
            raise RestoreError('%s is not empty and no backup directory was given' % data_dir)
        if mount:
            os.mkdir(backup_dir, 0o700)
            for entry in old:
                shutil.move(os.path.join(data_dir, entry), os.path.join(backup_dir, entry))
        else:
            os.rename(data_dir, backup_dir)
            exists = False
    if mount:
        for entry in os.listdir(restored):
            os.rename(os.path.join(restored, entry), os.path.join(data_dir, entry))
        os.chmod(data_dir, 0o700)
        fsync_dir(data_dir)
    else:
        if exists:
            os.rmdir(data_dir)
        os.rename(restored, data_dir)
    fsync_dir(os.path.dirname(data_dir) or '.')


def restore(etcdutl, snapshot, data_dir, params, backup_dir=None, runner=subprocess_runner, prepare=None):
    """Restore ``snapshot`` into ``data_dir`` atomically: etcdutl writes a temporary directory on the same file
    system, ``prepare(target)`` (e.g. chown) runs on it, then ``swap_in``. The temporary directory is always
    removed. Raises RestoreError (data_dir untouched) when etcdutl fails."""
    tmp_root, target = temp_target(data_dir)
    try:
        rc, out, err = runner(restore_argv(etcdutl, snapshot, target, params))
        if rc != 0:
            raise RestoreError('etcdutl snapshot restore failed (rc=%d): %s' % (rc, (err or out).strip()[-2000:]))
        os.chmod(target, 0o700)
        if prepare is not None:
            prepare(target)
        swap_in(target, data_dir, backup_dir)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
