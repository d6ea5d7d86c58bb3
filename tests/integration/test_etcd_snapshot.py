# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""etcd_snapshot against the real 3-member TLS + auth cluster of conftest.py."""

import datetime
import hashlib
import json
import os
import shutil
import subprocess

from conftest import assert_clean_failure

UTC = datetime.timezone.utc


def listing(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def revision(cluster):
    return cluster.etcdctl_json('endpoint', 'status')[0]['Status']['header']['revision']


def leader_endpoint(cluster):
    for st in cluster.etcdctl_json('endpoint', 'status'):
        if st['Status']['leader'] == st['Status']['header']['member_id']:
            return st['Endpoint']
    raise AssertionError('no leader')


def check_file(cluster, run):
    """The saved file is an etcd snapshot with a valid trailer, its sidecar and the result agree."""
    path = run['path']
    data = open(path, 'rb').read()
    assert len(data) == run['size'] and len(data) % 512 == 32
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]
    assert hashlib.sha256(data).hexdigest() == run['sha256']
    side = json.load(open(path + '.json'))
    assert side['sha256'] == run['sha256'] and side['size'] == run['size'] and side['revision'] == run['revision']
    assert side['cluster_id'] == run['cluster_id'] and side['etcd_version'] == cluster.version
    assert side['member_id'] == run['member']['member_id'] and side['member_name'] == run['member']['name']
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    status = subprocess.run([str(cluster.bin_dir / 'etcdutl'), 'snapshot', 'status', '-w', 'json', path],
                            capture_output=True, text=True, check=True)
    assert json.loads(status.stdout)['revision'] == run['revision']


def test_snapshot_save_idempotent_and_check_mode(etcd_cluster, run_module, tmp_path):
    dest = tmp_path / 'snaps'
    etcd_cluster.etcdctl('put', '/it/snapshot/k1', 'v1')
    args = dict(etcd_cluster.connection, dest_dir=str(dest))

    # check mode on a missing dir: says what it would save, writes nothing
    run = run_module('etcd_snapshot', args, check=True)
    assert not run.failed, run
    assert run.changed and run['saved'] and run['size'] is None
    assert not dest.exists()

    rev = revision(etcd_cluster)
    run = run_module('etcd_snapshot', args)
    assert not run.failed, run
    assert run.changed and run['saved']
    assert run['revision'] == rev
    assert os.path.basename(run['path']).startswith('etcd-') and run['path'].endswith('-r%d.db' % rev)
    check_file(etcd_cluster, run)
    # a follower is preferred
    assert run['member']['endpoint'] != leader_endpoint(etcd_cluster)
    assert [k['name'] for k in run['kept']] == [os.path.basename(run['path'])]
    assert run['pruned'] == []
    assert listing(dest) == sorted(['.etcd.lock', os.path.basename(run['path']), os.path.basename(run['path']) + '.json'])
    first = run

    # same revision: nothing to do
    again = run_module('etcd_snapshot', args)
    assert not again.failed and not again.changed and not again['saved'], again
    assert again['path'] == first['path'] and again['sha256'] == first['sha256']
    assert run_module('etcd_snapshot', args, check=True).changed is False

    # revision moved: check mode predicts a save but writes nothing
    etcd_cluster.etcdctl('put', '/it/snapshot/k2', 'v2')
    before = listing(dest)
    run = run_module('etcd_snapshot', args, check=True)
    assert run.changed and run['saved'] and run['revision'] == revision(etcd_cluster), run
    assert listing(dest) == before
    run = run_module('etcd_snapshot', args)
    assert run.changed and run['saved'] and run['revision'] == revision(etcd_cluster), run
    check_file(etcd_cluster, run)
    assert len([f for f in listing(dest) if f.endswith('.db')]) == 2


def _fake_old(dest, src_run, days, prefix='etcd', rev=1, verified=True, part=False):
    when = datetime.datetime.now(UTC) - datetime.timedelta(days=days)
    name = '%s-%s-r%d.db' % (prefix, when.strftime('%Y%m%dT%H%M%SZ'), rev)
    if part:
        shutil.copy(src_run['path'], str(dest / (name + '.part')))
        return name
    shutil.copy(src_run['path'], str(dest / name))
    if verified:
        side = json.load(open(src_run['path'] + '.json'))
        side['revision'] = rev
        (dest / (name + '.json')).write_text(json.dumps(side))
    return name


def test_snapshot_retention_prunes_after_save(etcd_cluster, run_module, tmp_path):
    dest = tmp_path / 'ret'
    args = dict(etcd_cluster.connection, dest_dir=str(dest), prefix='ret')
    seed = run_module('etcd_snapshot', args)
    assert seed.changed, seed
    # older snapshots hold older revisions (the policy keeps the highest verified revision whatever its time says)
    old = [_fake_old(dest, seed, d, prefix='ret', rev=1) for d in (3, 5, 40, 41)]
    unverified = _fake_old(dest, seed, 6, prefix='ret', rev=1, verified=False)
    partial = _fake_old(dest, seed, 7, prefix='ret', rev=1, part=True)
    other = _fake_old(dest, seed, 50, prefix='other', rev=50)

    policy = dict(keep_last=2, keep_daily=4, keep_weekly=0, keep_monthly=0)
    etcd_cluster.etcdctl('put', '/it/snapshot/ret', 'x')
    before = listing(dest)
    check = run_module('etcd_snapshot', dict(args, retention=policy), check=True)
    assert check.changed and check['saved'], check
    assert listing(dest) == before
    expected_pruned = {old[1], old[2], old[3], unverified, partial}
    assert {p['name'] for p in check['pruned']} == expected_pruned

    run = run_module('etcd_snapshot', dict(args, retention=policy))
    assert run.changed and run['saved'], run
    assert {p['name'] for p in run['pruned']} == expected_pruned
    kept = [k['name'] for k in run['kept']]
    assert kept == [os.path.basename(run['path']), os.path.basename(seed['path']), old[0]]
    files = listing(dest)
    for name in expected_pruned:
        assert name not in files and name + '.json' not in files and name + '.part' not in files
    for name in kept:
        assert name in files and name + '.json' in files
    assert other in files  # other prefixes are never touched

    # second run: nothing to save, nothing to prune
    again = run_module('etcd_snapshot', dict(args, retention=policy))
    assert not again.changed and again['pruned'] == [] and not again['saved'], again

    # skip_if_unchanged=false takes a new one even at the same revision
    forced = run_module('etcd_snapshot', dict(args, retention=policy, skip_if_unchanged=False))
    assert forced.changed and forced['saved'] and forced['revision'] == run['revision'], forced


def test_snapshot_from_one_endpoint_and_custom_mode(etcd_cluster, run_module, tmp_path):
    dest = tmp_path / 'one'
    args = dict(etcd_cluster.connection, endpoints=etcd_cluster.endpoints[:1], dest_dir=str(dest), mode='0640')
    run = run_module('etcd_snapshot', args)
    assert run.changed, run
    assert run['member']['endpoint'] == etcd_cluster.endpoints[0]
    assert oct(os.stat(run['path']).st_mode & 0o777) == '0o640'


def test_snapshot_bad_inputs(etcd_cluster, run_module, run_modules, tmp_path):
    conn = etcd_cluster.connection
    dest = tmp_path / 'bad'
    afile = tmp_path / 'afile'
    afile.write_text('x')
    cases = [
        (dict(conn, password='wrong'), ['authentication']),
        (dict(conn, ca_cert=etcd_cluster.bad_ca_cert), ['tls']),
        (dict(conn, client_cert=etcd_cluster.bad_client_cert, client_key=etcd_cluster.bad_client_key), ['tls']),
        (dict(conn, endpoints=['https://%s:2379' % etcd_cluster.ip(9)], timeout=3), ['no healthy', 'connect']),
        (dict(conn, retention=dict(keep_last='many')), ['keep_last']),
        (dict(conn, retention=dict(keep_daily=-1)), ['keep_daily', '>= 0']),
        (dict(conn, retention=dict(keep_yearly=1)), ['keep_yearly']),
        (dict(conn, prefix='../evil'), ['prefix']),
        (dict(conn, skip_if_unchanged='perhaps'), ['skip_if_unchanged']),
    ]
    # one playbook for all cases, each followed by a stat of dest: every result and its side effect checked
    calls = []
    for args, _words in cases:
        args.setdefault('dest_dir', str(dest))
        calls += [('etcd_snapshot', args), ('ansible.builtin.stat', {'path': str(dest)})]
    runs = run_modules(calls)
    for i, (args, words) in enumerate(cases):
        run, probe = runs[2 * i], runs[2 * i + 1]
        assert_clean_failure(run, *words)
        assert not probe.failed and probe['stat']['exists'] is False, (args, probe)
    assert not dest.exists()
    assert_clean_failure(run_module('etcd_snapshot', dict(conn, dest_dir=str(afile))), 'not a directory')
    assert_clean_failure(run_module('etcd_snapshot', dict(conn)), 'dest_dir')
