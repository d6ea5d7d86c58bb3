# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Module behaviour that comes with the one core: etcd_info waits for the health gate, etcd_snapshot and
etcd_restore read the RAM-disk helper's old snapshot sidecars, a name:password user is never echoed."""

import datetime
import hashlib
import json
import os
import threading
import time

from conftest import assert_clean_failure

UTC = datetime.timezone.utc


def test_info_gate_waits_for_a_restarted_member(etcd_cluster, run_module):
    victim = etcd_cluster.members[-1]
    name, ip = victim.name, victim.ip
    initial = ','.join('%s=%s' % (m.name, m.peer_url) for m in etcd_cluster.members)
    args = dict(etcd_cluster.connection, timeout=3, fail_on_unhealthy=True)
    etcd_cluster.stop_member(name)
    runs = []
    # the gate runs in a thread; the member is started from the main thread (the test processes die with the
    # thread that started them)
    gate = threading.Thread(target=lambda: runs.append(run_module('etcd_info', dict(args, wait_timeout=90))))
    try:
        run = run_module('etcd_info', args)
        assert_clean_failure(run, 'not healthy', name)
        started = time.time()
        gate.start()
        time.sleep(6)
        assert gate.is_alive()  # still waiting for the member
        etcd_cluster.start_member(name, ip, initial, state='existing')
        gate.join(120)
        run = runs[0]
        assert not run.failed and run['problems'] == [], run
        assert time.time() - started > 6
        assert all(m['healthy'] for m in run['members']) and run['raft_index_spread'] <= 1000
    finally:
        if gate.is_alive():
            gate.join(120)
        if not any(m.name == name for m in etcd_cluster.members):
            etcd_cluster.start_member(name, ip, initial, state='existing')
        etcd_cluster.wait_healthy()


def test_info_gate_wait_timeout_expires(etcd_cluster, run_module):
    victim = etcd_cluster.members[-1]
    name, ip = victim.name, victim.ip
    initial = ','.join('%s=%s' % (m.name, m.peer_url) for m in etcd_cluster.members)
    etcd_cluster.stop_member(name)
    try:
        started = time.time()
        run = run_module('etcd_info', dict(etcd_cluster.connection, timeout=2, fail_on_unhealthy=True,
                                           wait_timeout=4))
        assert_clean_failure(run, 'not healthy after 4', name)
        assert time.time() - started >= 4 and run['quorum']['healthy_voting'] == 2
    finally:
        etcd_cluster.start_member(name, ip, initial, state='existing')
        etcd_cluster.wait_healthy()


def _old_ramdisk_snapshot(dest, src, days, rev, verified=True):
    """A snapshot as the old RAM-disk helper left it: snapshot-<time>-r<rev>.db + snapshot-<time>-r<rev>.json."""
    when = datetime.datetime.now(UTC) - datetime.timedelta(days=days)
    base = 'snapshot-%s-r%d' % (when.strftime('%Y%m%dT%H%M%SZ'), rev)
    data = open(src, 'rb').read()
    (dest / (base + '.db')).write_bytes(data)
    meta = dict(verified=verified, revision=rev, hash=1, total_keys=1, size=len(data),
                sha256=hashlib.sha256(data).hexdigest(), time=when.strftime('%Y-%m-%dT%H:%M:%SZ'), member='etcd1',
                endpoint='https://x:2379')
    (dest / (base + '.json')).write_text(json.dumps(meta))
    return base


def test_snapshot_and_restore_read_old_ramdisk_sidecars(etcd_cluster, run_module, tmp_path):
    dest = tmp_path / 'snaps'
    args = dict(etcd_cluster.connection, dest_dir=str(dest), prefix='snapshot',
                retention=dict(keep_last=2, keep_daily=0))
    seed = run_module('etcd_snapshot', args)
    assert seed.changed and not seed.failed, seed
    # older snapshots hold older revisions (the policy keeps the highest verified revision whatever its time says)
    old = [_old_ramdisk_snapshot(dest, seed['path'], d, rev=1) for d in (10, 20, 30)]
    etcd_cluster.client().put('/it/core/ramdisk-sidecars', 'x')
    run = run_module('etcd_snapshot', args)
    assert run.changed and run['saved'], run
    # the old helper's snapshots are counted and pruned with their .json sidecars
    assert sorted(p['name'] for p in run['pruned']) == sorted(b + '.db' for b in old)
    assert all(f.endswith('.db') or f.endswith('.json') for p in run['pruned'] for f in p['files'])
    assert not any(os.path.exists(str(dest / (b + ext))) for b in old for ext in ('.db', '.json'))

    # etcd_restore checks a snapshot against an old helper sidecar too
    kept = _old_ramdisk_snapshot(dest, seed['path'], 1, rev=1)
    side = json.loads((dest / (kept + '.json')).read_text())
    side['sha256'] = '0' * 64
    (dest / (kept + '.json')).write_text(json.dumps(side))
    restore = dict(snapshot=str(dest / (kept + '.db')), data_dir=str(tmp_path / 'data'),
                   etcdutl_path=str(etcd_cluster.bin_dir / 'etcdutl'))
    assert_clean_failure(run_module('etcd_restore', restore), 'does not match its metadata sidecar', kept + '.json')
    assert not os.path.exists(str(tmp_path / 'data'))


def test_user_with_password_is_not_echoed(etcd_cluster, run_module):
    conn = dict(etcd_cluster.connection)
    secret = conn.pop('password')
    conn['user'] = '%s:%s' % (conn['user'], secret)
    run = run_module('etcd_info', conn)
    assert not run.failed, run
    assert secret not in json.dumps(run.result)
    assert run['invocation']['module_args']['user'].startswith('root:') if 'invocation' in run.result else True


def test_user_with_wrong_password_is_not_echoed_on_failure(etcd_cluster, run_module, run_modules):
    """``user: name:password`` with a wrong password, as an option and from ETCDCTL_USER: the failure names the
    user, never the password (not in the result, the invocation or the output)."""
    conn = dict(etcd_cluster.connection)
    conn.pop('password')
    secret = 'not-the-Pw-4711'
    runs = run_modules([('etcd_info', dict(conn, user='root:%s' % secret)),
                        ('etcd_key', dict(conn, user='root:%s' % secret, key='/it/secret', value='x'))])
    env_conn = dict(conn)
    env_conn.pop('user')
    runs.append(run_module('etcd_info', env_conn, env={'ETCDCTL_USER': 'root:%s' % secret}))
    for run in runs:
        assert run.failed and 'root' in run['msg'], run
        assert secret not in json.dumps(run.result) and secret not in run.output, run
