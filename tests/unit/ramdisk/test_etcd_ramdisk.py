# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The RAM-disk helper package (roles/ramdisk/files/etcd_ramdisk): decision tables, WAL reader, save/copy-in."""

import datetime
import json
import os
import struct

import pytest

from etcd_ramdisk import cli, decide, diskcopy, node as rnode
from etcd_ramdisk.decide import COPY_IN, FRESH, REFUSE, REJOIN, RESTORE, USE_TMPFS
from etcd_ramdisk.wal import read_wal

from ansible_collections.etcdkit.etcd.plugins.module_utils._retention import plan_retention, policy_from_ramdisk


def state(**kw):
    base = dict(is_tmpfs=True, tmpfs_has_data=False, clean_mark_valid=False, copy_exists=False, bootstrapped=True,
                cluster_size=3, quorum_elsewhere=False, snapshot_available=False)
    base.update(kw)
    return base


@pytest.mark.parametrize('kw,expected', [
    # data in tmpfs wins over everything (restart without reboot), even with a stale mark around
    (dict(tmpfs_has_data=True), USE_TMPFS),
    (dict(tmpfs_has_data=True, clean_mark_valid=True, copy_exists=True), USE_TMPFS),
    # clean stop -> lossless copy-in, whatever the cluster size or quorum
    (dict(clean_mark_valid=True, copy_exists=True), COPY_IN),
    (dict(clean_mark_valid=True, copy_exists=True, cluster_size=1), COPY_IN),
    # never started and nothing on disk -> etcd bootstraps/joins on its own
    (dict(bootstrapped=False), FRESH),
    # crash (no mark), multi-member
    (dict(copy_exists=True, quorum_elsewhere=True), REJOIN),
    (dict(copy_exists=False, quorum_elsewhere=True), REJOIN),
    (dict(copy_exists=True, quorum_elsewhere=False), REFUSE),
    (dict(copy_exists=False, quorum_elsewhere=False, cluster_size=2), REFUSE),
    # a mark without a copy is no mark
    (dict(clean_mark_valid=True, copy_exists=False, quorum_elsewhere=True), REJOIN),
    # crash, single member
    (dict(cluster_size=1, copy_exists=True, snapshot_available=True), RESTORE),
    (dict(cluster_size=1, copy_exists=True, snapshot_available=False), REFUSE),
    (dict(cluster_size=1, bootstrapped=True, snapshot_available=True), RESTORE),
    # a stale copy without bootstrapped state is still a stale copy
    (dict(bootstrapped=False, copy_exists=True, quorum_elsewhere=True), REJOIN),
    (dict(bootstrapped=False, copy_exists=True, cluster_size=1), REFUSE),
    # the data dir must really be a tmpfs
    (dict(is_tmpfs=False, tmpfs_has_data=True), REFUSE),
])
def test_decide_prestart(kw, expected):
    action, reason = decide.decide_prestart(state(**kw))
    assert action == expected, reason


def test_refusal_names_the_dr_playbook():
    for kw in (dict(copy_exists=True), dict(cluster_size=1, copy_exists=True)):
        action, reason = decide.decide_prestart(state(**kw))
        assert action == REFUSE
        assert 'playbooks/restore.yml' in reason


def test_stale_copy_is_never_started_on():
    """Exhaustive: without a clean mark and with an empty tmpfs, a bootstrapped member never starts from its copy."""
    import itertools
    for copy, size, quorum, snap in itertools.product([True, False], [1, 3], [True, False], [True, False]):
        st = state(copy_exists=copy, cluster_size=size, quorum_elsewhere=quorum, snapshot_available=snap)
        action, dummy = decide.decide_prestart(st)
        assert action not in (COPY_IN, USE_TMPFS, FRESH)


W = dict(member_id='a', cluster_id='c', term=3, commit=100, last_index=100, vote=1)


@pytest.mark.parametrize('new,old,ok', [
    (None, W, False),
    (W, None, True),
    (W, W, True),
    (dict(W, commit=101), W, True),
    (dict(W, term=4, commit=100), W, True),
    (dict(W, commit=99), W, False),
    (dict(W, term=2, commit=200), W, False),
    (dict(W, member_id='b', commit=5), W, True),   # new incarnation after a rejoin
    (dict(W, cluster_id='d', commit=5), W, True),  # new cluster after disaster recovery
])
def test_decide_save(new, old, ok):
    assert decide.decide_save(new, old)[0] is ok


def _retention_kept(snaps, settings, now):
    plan = plan_retention([{'name': n, 'time': t, 'verified': True} for n, t in snaps],
                          policy_from_ramdisk(settings), now=now)
    return sorted(e['name'] for e in plan['keep'])


def test_retention_settings_map_onto_the_collection_policy():
    """The role's two settings (ramdisk_snapshot_keep_last/_daily, written to the helper's config as
    ``retention``) are the core policy's keep_last and keep_daily: same kept set as the helper's own planner had."""
    now = datetime.datetime(2026, 1, 10, 12, 0, tzinfo=datetime.timezone.utc)
    snaps = []
    for day in range(1, 11):
        for hour in (0, 6, 12):
            when = datetime.datetime(2026, 1, day, hour, 0, tzinfo=datetime.timezone.utc)
            if when <= now:
                snaps.append(('s-%02d-%02d' % (day, hour), when))
    # 4 newest: 10-12, 10-06, 10-00, 09-12; daily newest for the 10th, 9th, 8th
    assert _retention_kept(snaps, {'keep_last': 4, 'keep_daily': 3}, now) == [
        's-08-12', 's-09-12', 's-10-00', 's-10-06', 's-10-12']


def test_retention_never_deletes_the_newest():
    now = datetime.datetime(2026, 1, 10, tzinfo=datetime.timezone.utc)
    snaps = [('a', now - datetime.timedelta(days=30)), ('b', now - datetime.timedelta(days=31))]
    assert _retention_kept(snaps, {'keep_last': 0, 'keep_daily': 0}, now) == ['a']


# ---- WAL reader on a synthetic WAL ------------------------------------------------------------------------------

def _varint(n):
    out = b''
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _msg(*fields):
    out = b''
    for num, val in fields:
        if isinstance(val, bytes):
            out += _varint(num << 3 | 2) + _varint(len(val)) + val
        else:
            out += _varint(num << 3) + _varint(val)
    return out


def _frame(rtype, data):
    rec = _msg((1, rtype), (2, 12345), (3, data))
    pad = (8 - len(rec) % 8) % 8
    lenfield = len(rec) | ((0x80 | pad) << 56 if pad else 0)
    return struct.pack('<Q', lenfield) + rec + b'\0' * pad


def test_read_wal(tmp_path):
    wal = tmp_path / 'wal'
    wal.mkdir()
    body = (_frame(4, b'') + _frame(1, _msg((1, 0xc4adc1efa192d53c), (2, 0x5dc4469af4063571)))
            + _frame(2, _msg((2, 2), (3, 7))) + _frame(3, _msg((1, 2), (2, 9), (3, 6)))
            + _frame(2, _msg((2, 2), (3, 8))) + _frame(3, _msg((1, 3), (2, 9), (3, 8))))
    # a torn tail (length says more than is there) and then preallocated zeros
    torn = struct.pack('<Q', 4096) + b'\1' * 10 + b'\0' * 64
    (wal / '0000000000000000-0000000000000000.wal').write_bytes(body + torn)
    res = read_wal(str(wal))
    assert res == dict(member_id='c4adc1efa192d53c', cluster_id='5dc4469af4063571', term=3, commit=8, last_index=8,
                       vote=9)


def test_read_wal_missing(tmp_path):
    assert read_wal(str(tmp_path / 'nope')) is None
    assert read_wal(str(tmp_path)) is None


# ---- save / copy-in on real files (no systemd, no etcd: synthetic WAL, data dir is a plain directory) -----------

def _write_member(root, term, commit, member=0xa1, cluster=0xc1, extra=b''):
    wal = root / 'member' / 'wal'
    snap = root / 'member' / 'snap'
    wal.mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    body = (_frame(4, b'') + _frame(1, _msg((1, member), (2, cluster))) + _frame(2, _msg((2, term), (3, commit)))
            + _frame(3, _msg((1, term), (2, 1), (3, commit))))
    # a preallocated segment: the tail is zeros (saved sparse)
    (wal / '0000000000000000-0000000000000000.wal').write_bytes(body + b'\0' * (3 << 20))
    (snap / 'db').write_bytes(b'bolt' * 1000 + extra)
    (root / '.etcdkit-cluster').write_text('cluster: etcd\n')


@pytest.fixture
def helper(tmp_path):
    import getpass
    import grp as _grp
    import pwd as _pwd
    user = getpass.getuser()
    cfg = {
        'unit': 'etcd-test.service', 'data_dir': str(tmp_path / 'data'), 'state_dir': str(tmp_path / 'state'),
        'snapshot_dir': str(tmp_path / 'snaps'), 'run_dir': str(tmp_path / 'run'), 'user': user,
        'group': _grp.getgrgid(_pwd.getpwnam(user).pw_gid).gr_name, 'require_tmpfs': False,
        'etcd': '/nonexistent/etcd', 'etcdctl': '/nonexistent/etcdctl', 'etcdutl': '/nonexistent/etcdutl',
        'member': {'name': 'm1', 'peer_urls': ['https://127.0.12.250:2380'],
                   'client_urls': ['https://127.0.12.250:2379'], 'initial_cluster_token': 't'},
        'endpoints': {'m1': ['https://127.0.12.250:2379']}, 'cluster_size_min': 1,
    }
    (tmp_path / 'data').mkdir()
    (tmp_path / 'state').mkdir()
    return rnode.Node(cfg), tmp_path


def test_save_then_copy_in_is_lossless_and_consumes_the_mark(helper):
    h, tmp = helper
    data = tmp / 'data'
    _write_member(data, term=3, commit=40)
    assert diskcopy.save(h, 'test') == 0
    mark = rnode.read_json(str(tmp / 'state' / 'clean.json'))
    assert mark['wal']['commit'] == 40 and mark['member_id'] == 'a1'
    # the WAL's zero tail was not written (sparse), the content is identical
    saved_wal = tmp / 'state' / 'current' / 'member' / 'wal' / '0000000000000000-0000000000000000.wal'
    assert saved_wal.read_bytes() == (data / 'member' / 'wal' / saved_wal.name).read_bytes()
    assert os.stat(saved_wal).st_blocks * 512 <= (1 << 20) < os.stat(saved_wal).st_size
    # reboot: the tmpfs comes back empty
    h.clear_data_dir()
    assert cli.cmd_prestart(h, None) == 0
    assert read_wal(str(data / 'member' / 'wal'))['commit'] == 40
    assert (data / '.etcdkit-cluster').read_text() == 'cluster: etcd\n'
    assert not (tmp / 'state' / 'clean.json').exists()
    assert rnode.read_json(str(tmp / 'state' / 'state.json'))['last_start']['action'] == COPY_IN
    # a crash now (tmpfs lost, mark consumed): a single member without a snapshot refuses the stale copy
    h.clear_data_dir()
    with pytest.raises(rnode.Fail, match='restore.yml'):
        cli.cmd_prestart(h, None)
    assert not (data / 'member').exists()


def test_restart_without_reboot_consumes_the_mark(helper):
    h, tmp = helper
    _write_member(tmp / 'data', term=3, commit=40)
    diskcopy.save(h, 'test')
    assert (tmp / 'state' / 'clean.json').exists()
    cli.cmd_prestart(h, None)  # data still in the tmpfs
    assert not (tmp / 'state' / 'clean.json').exists()
    assert rnode.read_json(str(tmp / 'state' / 'state.json'))['last_start']['action'] == USE_TMPFS


def test_save_refuses_older_data_of_the_same_member(helper):
    h, tmp = helper
    data = tmp / 'data'
    _write_member(data, term=3, commit=40)
    diskcopy.save(h, 'test')
    before = os.readlink(str(tmp / 'state' / 'current'))
    h.clear_data_dir()
    _write_member(data, term=3, commit=39)
    with pytest.raises(rnode.Fail, match='OLDER'):
        diskcopy.save(h, 'test')
    assert os.readlink(str(tmp / 'state' / 'current')) == before


def test_save_refuses_a_live_db(helper):
    import fcntl
    h, tmp = helper
    _write_member(tmp / 'data', term=3, commit=40)
    h.cfg['stop_wait'] = 1
    with open(str(tmp / 'data' / 'member' / 'snap' / 'db'), 'rb') as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # what bbolt holds while etcd runs
        with pytest.raises(rnode.Fail, match='still holds'):
            diskcopy.save(h, 'test')
    assert not (tmp / 'state' / 'clean.json').exists()


def test_tampered_copy_invalidates_the_mark(helper):
    h, tmp = helper
    _write_member(tmp / 'data', term=3, commit=40)
    diskcopy.save(h, 'test')
    wal = next((tmp / 'state' / 'current' / 'member' / 'wal').iterdir())
    raw = bytearray(wal.read_bytes())
    # rewrite the hard state's commit (last record) to an older value
    good = _frame(3, _msg((1, 3), (2, 1), (3, 40)))
    bad = _frame(3, _msg((1, 3), (2, 1), (3, 30)))
    idx = bytes(raw).rfind(good)
    raw[idx:idx + len(good)] = bad
    wal.write_bytes(bytes(raw))
    assert h.clean_mark() is None


# ---- choice of the snapshot a single-member crash restores (the core's store and choice, real files) ----------

def _stream(revision):
    import hashlib
    body = (b'bolt-%d' % revision).ljust(4096, b'\0')
    return [body, hashlib.sha256(body).digest()]


def test_restore_source_skips_a_corrupt_snapshot_and_prefers_this_cluster(helper):
    from ansible_collections.etcdkit.etcd.plugins.module_utils._snapstore import save_stream
    from etcd_ramdisk import member
    h, tmp = helper
    snaps = tmp / 'snaps'
    snaps.mkdir()
    when = datetime.datetime(2026, 11, 20, 10, 0, tzinfo=datetime.timezone.utc)
    for rev in (10, 12):
        save_stream(_stream(rev), str(snaps), 'snapshot-%s-r%d.db' % (when.strftime('%Y%m%dT%H%M%SZ'), rev),
                    dict(revision=rev, cluster_id='00000000000000c1', created=when))
        when += datetime.timedelta(hours=1)
    # the newest of this cluster is corrupt (same size, other bytes: only a full verification sees it)
    bad = snaps / 'snapshot-20261120T110000Z-r12.db'
    raw = bytearray(bad.read_bytes())
    raw[0] ^= 0xff
    bad.write_bytes(bytes(raw))
    # an old helper snapshot (legacy <base>.json sidecar, no cluster id) with a higher revision
    good = snaps / 'snapshot-20261120T100000Z-r10.db'
    (snaps / 'snapshot-20261119T000000Z-r20.db').write_bytes(good.read_bytes())
    side = rnode.read_json(str(good) + '.json')
    (snaps / 'snapshot-20261119T000000Z-r20.json').write_text(
        '{"verified": true, "revision": 20, "size": %d, "sha256": "%s", "time": "2026-11-19T00:00:00Z", '
        '"member": "m1"}' % (side['size'], side['sha256']))
    state = {'cluster_id': '00000000000000c1', 'last_known': {'revision': 15}}
    source, loss = member.restore_source(h, state)
    assert source['name'] == 'snapshot-20261120T100000Z-r10.db'
    assert loss == 5
    events = [json.loads(line)['event'] for line in open(str(tmp / 'state' / 'events.log'))]
    assert events == ['snapshot-bad']
    # without a snapshot of this cluster the old helper's one is used (identity unknown)
    for name in os.listdir(str(snaps)):
        if '-r10.' in name or '-r12.' in name:
            os.unlink(str(snaps / name))
    source, loss = member.restore_source(h, state)
    assert source['name'] == 'snapshot-20261119T000000Z-r20.db' and loss == 0
