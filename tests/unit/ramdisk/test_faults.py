# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Faults of the RAM-disk helper (issue 9, "RAM-disk mode"): the pure decisions as tables, their wiring with real
files (the helper's state, disk copy and snapshot store) and a fake cluster where etcd itself is not the point."""

import datetime
import json
import os

import pytest

from etcd_ramdisk import cli, decide, diskcopy, member, node as rnode
from etcd_ramdisk.decide import REFUSE, RESTORE

from test_etcd_ramdisk import _stream, _write_member, helper, state  # noqa: F401  pylint: disable=unused-import

PEER = 'https://127.0.12.250:2380'


def m(mid, name='x', peer=None, learner=False, client=None):
    return dict(id=mid, name=name, peer_urls=[peer or 'https://10.0.0.%d:2380' % mid], is_learner=learner,
                client_urls=client if client is not None else ['https://10.0.0.%d:2379' % mid])


# ---- (a) a removed member never puts itself back ------------------------------------------------------------------

@pytest.mark.parametrize('known,members,removing,verdict', [
    # our recorded id is listed: a crash, the rejoin replaces it
    (['a1'], [m(0xa1, 'm1', PEER), m(2)], [], 'listed'),
    # our id is gone and nobody has our peer URLs: somebody removed us on purpose (etcd never removes on its own)
    (['a1'], [m(2), m(3)], [], 'removed'),
    # ... unless it was this helper itself, half-way through a rejoin (removed, not yet re-added)
    (['a1'], [m(2), m(3)], ['a1'], 'listed'),
    # the operator re-added this host (site.yml): a member with our peer URLs exists under a new id
    (['a1'], [m(0xb2, '', PEER), m(2)], [], 'replaced'),
    # the host name was reused with a new address: our old id still listed (other peer URLs) -> listed, replaced
    (['a1'], [m(0xa1, 'm1', 'https://10.9.9.9:2380'), m(2)], [], 'listed'),
    # no recorded identity or no member list: cannot tell (behave as before)
    ([], [m(2), m(3)], [], 'unknown'),
    (['a1'], [], [], 'unknown'),
    # ids recorded in either spelling (WAL "%x", core format_id zero-padded)
    (['00000000000000a1'], [m(0xa1, 'm1', PEER)], [], 'listed'),
])
def test_membership_verdict(known, members, removing, verdict):
    assert decide.membership_verdict(known, members, [PEER], removing)[0] == verdict


@pytest.mark.parametrize('kw', [
    dict(quorum_elsewhere=True, copy_exists=True),                       # crash: would rejoin
    dict(quorum_elsewhere=True, copy_exists=False),
    dict(clean_mark_valid=True, copy_exists=True, quorum_elsewhere=True),  # clean stop: would copy in
])
def test_removed_member_stays_out(kw):
    action, reason = decide.decide_prestart(state(removed=True, **kw))
    assert action == REFUSE
    assert 'removed' in reason and 'site.yml' in reason


def test_prestart_of_a_removed_member_refuses_and_never_adds_it(helper, monkeypatch):  # noqa: F811
    """The reproduced fault: removed while its host was down (the crash path: empty tmpfs, no mark), the member
    must not re-add itself as a learner on its next boot."""
    h, tmp = helper
    h.cfg['endpoints'] = {'m1': ['https://127.0.12.250:2379'], 'm2': ['https://10.0.0.2:2379'],
                          'm3': ['https://10.0.0.3:2379']}
    _write_member(tmp / 'data', term=3, commit=40)  # member id a1
    diskcopy.save(h, 'test')
    h.consume_mark()
    h.clear_data_dir()  # crash: tmpfs gone, no clean mark
    calls = []
    monkeypatch.setattr(member, 'healthy', lambda node, eps: list(eps))
    monkeypatch.setattr(member, 'cluster_members', lambda node, eps: [m(2, 'm2'), m(3, 'm3')])
    monkeypatch.setattr(member, 'rejoin', lambda node, st: calls.append('rejoin'))
    with pytest.raises(rnode.Fail, match='removed'):
        cli.cmd_prestart(h, None)
    assert calls == []
    events = [json.loads(line) for line in open(str(tmp / 'state' / 'events.log'))]
    assert [e for e in events if e['event'] == 'prestart'][-1]['action'] == REFUSE
    # the same member still listed: it rejoins
    monkeypatch.setattr(member, 'cluster_members', lambda node, eps: [m(0xa1, 'm1', PEER), m(2, 'm2')])
    cli.cmd_prestart(h, None)
    assert calls == ['rejoin']


def test_clean_boot_of_a_removed_member_does_not_copy_in(helper, monkeypatch):  # noqa: F811
    h, tmp = helper
    h.cfg['endpoints'] = {'m1': ['https://127.0.12.250:2379'], 'm2': ['https://10.0.0.2:2379']}
    _write_member(tmp / 'data', term=3, commit=40)
    diskcopy.save(h, 'test')
    h.clear_data_dir()  # clean poweroff, removed meanwhile
    monkeypatch.setattr(member, 'healthy', lambda node, eps: list(eps))
    monkeypatch.setattr(member, 'cluster_members', lambda node, eps: [m(2, 'm2'), m(3, 'm3')])
    with pytest.raises(rnode.Fail, match='removed'):
        cli.cmd_prestart(h, None)
    assert not (tmp / 'data' / 'member').exists()


# ---- (b) a single-member crash restores the best source: verified snapshots vs the clean disk copy ---------------

def _snapshots(snaps, revs, cluster='00000000000000c1', start=None):
    from ansible_collections.etcdkit.etcd.plugins.module_utils._snapstore import save_stream
    when = start or datetime.datetime(2026, 11, 20, 10, 0, tzinfo=datetime.timezone.utc)
    snaps.mkdir(exist_ok=True)
    for rev in revs:
        save_stream(_stream(rev), str(snaps), 'snapshot-%s-r%d.db' % (when.strftime('%Y%m%dT%H%M%SZ'), rev),
                    dict(revision=rev, cluster_id=cluster, created=when))
        when += datetime.timedelta(hours=1)


def _clean_copy(h, tmp, revision, cluster=0xc1):
    _write_member(tmp / 'data', term=3, commit=40, cluster=cluster)
    diskcopy.save(h, 'clean stop')
    meta_path = os.path.join(h.current_copy(), 'meta.json')
    meta = rnode.read_json(meta_path)
    meta['revision'] = revision  # what etcdutl snapshot status read at the save (no etcdutl in unit tests)
    rnode.write_json_atomic(meta_path, meta)
    h.consume_mark()  # ... then a clean boot copied it in (mark consumed) and the member crashed
    h.clear_data_dir()


@pytest.mark.parametrize('snap_revs,copy_rev,copy_cluster,expected', [
    ([10, 12], 40, 0xc1, 'copy'),       # the reproduced loss: the copy of the clean reboot is newer than any snapshot
    ([10, 50], 40, 0xc1, 'snapshot'),   # a snapshot taken after the copy-in is newer
    ([10, 12], 40, 0xc2, 'snapshot'),   # a copy of another cluster is never used
    ([], 40, 0xc1, 'copy'),             # no snapshot at all: the clean copy
])
def test_single_member_restore_source(helper, snap_revs, copy_rev, copy_cluster, expected):  # noqa: F811
    h, tmp = helper
    _snapshots(tmp / 'snaps', snap_revs)
    _clean_copy(h, tmp, copy_rev, cluster=copy_cluster)
    source, loss = member.restore_source(h, {'cluster_id': '00000000000000c1', 'last_known': {'revision': 45}})
    assert source is not None and source['kind'] == expected, source
    assert loss == max(45 - source['revision'], 0)


def test_single_member_crash_after_clean_reboot_restores_the_copy_with_the_clock_stepped_back(helper):  # noqa: F811
    """The newest data wins by revision, never by time: snapshots dated in the 'future' (before a clock step) and a
    clean copy dated 'now' with a higher revision."""
    h, tmp = helper
    _snapshots(tmp / 'snaps', [10, 30], start=datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc))
    _clean_copy(h, tmp, 35)
    source, loss = member.restore_source(h, {'cluster_id': '00000000000000c1'})
    assert source['kind'] == 'copy' and source['revision'] == 35 and loss is None


def test_single_member_prestart_restores_from_the_copy(helper, monkeypatch):  # noqa: F811
    h, tmp = helper
    _snapshots(tmp / 'snaps', [10])
    _clean_copy(h, tmp, 40)
    restored = []
    monkeypatch.setattr(member, 'restore_into_tmpfs',
                        lambda node, path, initial, token, skip_hash_check=False: restored.append(
                            (path, skip_hash_check)) or _write_member(tmp / 'data', term=1, commit=1))
    assert cli.cmd_prestart(h, None) == 0
    assert len(restored) == 1 and restored[0][1] is True and restored[0][0].endswith('/member/snap/db')
    report = rnode.read_json(str(tmp / 'state' / 'last-restore.json'))
    assert report['source_kind'] == 'copy' and report['snapshot_revision'] == 40
    assert rnode.read_json(str(tmp / 'state' / 'state.json'))['last_start']['action'] == RESTORE


# ---- (d) a grown cluster is never restored as a single member --------------------------------------------------

def test_grown_cluster_is_not_restored_as_a_single_member(helper, monkeypatch):  # noqa: F811
    """1 -> 3 with site.yml: the helper's config (from the role's last run) still says one member. The member list
    recorded by ``refresh`` (run by the etcd role right after it adds a member, and by the watermark timer) counts
    learners and unstarted members too, so a crash afterwards is never a single-member restore."""
    h, tmp = helper
    _snapshots(tmp / 'snaps', [10])
    _write_member(tmp / 'data', term=3, commit=40)
    diskcopy.save(h, 'test')
    h.consume_mark()
    listing = [m(0xa1, 'm1', PEER, client=['https://127.0.12.250:2379']), m(2, '', learner=True, client=[]),
               m(3, 'm3', learner=True)]
    monkeypatch.setattr(member, 'own_view', lambda node: dict(
        revision=60, member_id=0xa1, cluster_id=0xc1, members=listing))
    assert cli.main_verb(h, 'refresh') == 0
    st = rnode.read_json(str(tmp / 'state' / 'state.json'))
    assert h.cluster_size(st) == 3
    assert st['member_id'] == '00000000000000a1' and st['last_known']['revision'] == 60
    h.clear_data_dir()  # crash before the helper's config was refreshed by the ramdisk role
    monkeypatch.setattr(member, 'healthy', lambda node, eps: [])
    with pytest.raises(rnode.Fail, match='no quorum'):
        cli.cmd_prestart(h, None)
    assert not (tmp / 'data' / 'member').exists()


def test_retire_after_a_removal_forgets_the_member(helper, monkeypatch):  # noqa: F811
    """remove_member.yml, once it reaches the removed host: the unit is stopped (its save wrote a copy and a clean
    mark), then ``retire`` moves the copy aside and forgets the member: a later re-add by site.yml is a fresh join,
    never a copy-in of the removed member's data."""
    h, tmp = helper
    monkeypatch.setattr(member, 'unit_active', lambda node: False)
    _write_member(tmp / 'data', term=3, commit=40)
    diskcopy.save(h, 'poststop')
    assert cli.main_verb(h, 'retire') == 0
    assert h.current_copy() is None and not (tmp / 'state' / 'clean.json').exists()
    assert not (tmp / 'data' / 'member').exists()
    st = rnode.read_json(str(tmp / 'state' / 'state.json'))
    assert not st.get('bootstrapped') and st['retired']['member_id'] == 'a1'
    assert decide.decide_prestart(dict(state(), bootstrapped=False, copy_exists=False))[0] == decide.FRESH
    assert cli.main_verb(h, 'retire') == 0  # idempotent
    monkeypatch.setattr(member, 'unit_active', lambda node: True)
    with pytest.raises(rnode.Fail, match='stop'):
        cli.main_verb(h, 'retire')


# ---- (e) saves -------------------------------------------------------------------------------------------------

def test_failed_save_is_logged_with_its_cause_leaves_no_temp_dir_and_the_next_save_works(helper, monkeypatch):  # noqa: F811
    import errno
    h, tmp = helper
    _write_member(tmp / 'data', term=3, commit=40)
    real_copy = diskcopy.copy_tree_durable

    def full_disk(src, dst, **kw):
        os.makedirs(os.path.join(dst, 'member', 'snap'))
        with open(os.path.join(dst, 'member', 'snap', 'db'), 'wb') as handle:
            handle.write(b'partial')
        raise OSError(errno.ENOSPC, 'No space left on device', dst)

    monkeypatch.setattr(diskcopy, 'copy_tree_durable', full_disk)
    with pytest.raises(rnode.Fail, match='No space left on device'):
        diskcopy.save(h, 'poststop')
    leftovers = [n for n in os.listdir(str(tmp / 'state')) if n.startswith('.tmp-')]
    assert leftovers == []
    events = [json.loads(line) for line in open(str(tmp / 'state' / 'events.log'))]
    failed = [e for e in events if e['event'] == 'save-failed']
    assert failed and 'No space left on device' in failed[-1]['cause']
    assert not (tmp / 'state' / 'clean.json').exists()
    # a leftover of a save killed by a power cut is removed by the next save, which works
    os.makedirs(str(tmp / 'state' / '.tmp-gen-20261122T000000000000Z' / 'member'))
    monkeypatch.setattr(diskcopy, 'copy_tree_durable', real_copy)
    assert diskcopy.save(h, 'poststop') == 0
    assert [n for n in os.listdir(str(tmp / 'state')) if n.startswith('.tmp-')] == []
    assert (tmp / 'state' / 'clean.json').exists()
    st = rnode.read_json(str(tmp / 'state' / 'state.json'))
    assert st['last_save']['seconds'] >= 0


# ---- (f) rejoin budget ----------------------------------------------------------------------------------------

def test_rejoin_interrupted_after_promotion_keeps_the_promoted_member(helper, monkeypatch):  # noqa: F811
    """The temporary learner was promoted, then the start was interrupted (TimeoutStartSec, a kill) before the
    marker was removed: the tmpfs holds the promoted member's data. The next start keeps it; it never removes the
    member it just promoted to rejoin all over again."""
    h, tmp = helper
    h.cfg['endpoints'] = {'m1': ['https://127.0.12.250:2379'], 'm2': ['https://10.0.0.2:2379'],
                          'm3': ['https://10.0.0.3:2379']}
    _write_member(tmp / 'data', term=5, commit=90, member=0xb7)  # the new incarnation's WAL
    (tmp / 'data' / rnode.JOIN_MARKER).write_text('00000000000000b7\n')
    rnode.write_json_atomic(str(tmp / 'state' / 'state.json'),
                            {'bootstrapped': True, 'member_id': '00000000000000b7',
                             'rejoin_promoted': '00000000000000b7'})
    calls = []
    monkeypatch.setattr(member, 'healthy', lambda node, eps: list(eps))
    monkeypatch.setattr(member, 'cluster_members', lambda node, eps: [m(0xb7, 'm1', PEER), m(2, 'm2'), m(3, 'm3')])
    monkeypatch.setattr(member, 'rejoin', lambda node, st: calls.append('rejoin'))
    assert cli.cmd_prestart(h, None) == 0
    assert calls == []
    assert (tmp / 'data' / 'member' / 'wal').exists() and not (tmp / 'data' / rnode.JOIN_MARKER).exists()
    st = rnode.read_json(str(tmp / 'state' / 'state.json'))
    assert st['last_start']['action'] == decide.USE_TMPFS and 'rejoin_promoted' not in st
    # not promoted yet (or another member's data): discarded and redone, as before
    _write_member(tmp / 'data', term=5, commit=90, member=0xb8)
    (tmp / 'data' / rnode.JOIN_MARKER).write_text('00000000000000b8\n')
    cli.cmd_prestart(h, None)
    assert calls == ['rejoin']


def test_rejoin_steps_share_one_deadline(helper, monkeypatch):  # noqa: F811
    """The removal, the re-add and the promotion each wait up to their timeout; together they must fit in
    ``rejoin_timeout`` (the start timeout is checked against it at preflight), not 1.5 times it."""
    h, tmp = helper
    h.cfg['rejoin_timeout'] = 100
    h.cfg['endpoints'] = {'m1': ['https://127.0.12.250:2379'], 'm2': ['https://10.0.0.2:2379']}
    clock = [1000.0]
    given = []

    class FakeClient(object):
        def member_list(self):
            return {'members': [m(0xa1, 'm1', PEER), m(2, 'm2')]}

    def waits(name):
        def step(*args, **kw):
            timeout = kw.get('wait_timeout', args[-1] if args else None)
            given.append((name, timeout))
            clock[0] += timeout  # each step uses all the time it is given
            if name == 'add':
                return {'member': {'id': 0xb7}, 'initial_cluster': 'm1=%s' % PEER}
            return False
        return step

    import time
    monkeypatch.setattr(time, 'monotonic', lambda: clock[0])
    monkeypatch.setattr(member, 'healthy', lambda node, eps: list(eps))
    monkeypatch.setattr(member, 'client', lambda node, eps, timeout=10: FakeClient())
    monkeypatch.setattr(member, 'remove_member', waits('remove'))
    monkeypatch.setattr(member, 'add_learner', waits('add'))
    monkeypatch.setattr(member, 'run_temporary_learner',
                        lambda node, initial, cli, mid, timeout: waits('promote')(timeout))
    member.rejoin(h, {'member_id': 'a1'})
    assert [n for n, dummy in given] == ['remove', 'add', 'promote']
    assert sum(t for dummy, t in given) <= 100 + 1, given


# ---- (h) defrag on a tmpfs -------------------------------------------------------------------------------------

MIB = 1024 * 1024


@pytest.mark.parametrize('free,in_use,ok', [
    (100 * MIB, 200 * MIB, False),   # the rewritten db does not even fit
    (210 * MIB, 200 * MIB, False),   # it fits, but no room is left for the WAL meanwhile (margin)
    (300 * MIB, 200 * MIB, True),
    (64 * MIB + 1, 0, True),         # an empty db still needs the margin
    (0, 0, False),
])
def test_defrag_room_table(free, in_use, ok):
    from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag_rules import defrag_room
    result, reason = defrag_room(free, in_use)
    assert result is ok, reason
    if not ok:
        assert 'refus' in reason


def test_defrag_check_verb_refuses_on_a_full_tmpfs(helper, monkeypatch, capsys):  # noqa: F811
    h, tmp = helper
    monkeypatch.setattr(member, 'own_status', lambda node: dict(db_size=300 * MIB, db_size_in_use=200 * MIB))
    monkeypatch.setattr(member, 'fs_free', lambda path: 100 * MIB)
    with pytest.raises(rnode.Fail, match='defrag'):
        cli.main_verb(h, 'defrag-check')
    monkeypatch.setattr(member, 'fs_free', lambda path: 400 * MIB)
    assert cli.main_verb(h, 'defrag-check') == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])['ok'] is True


def test_process_crash_restarts_on_the_tmpfs_without_a_full_copy(helper, monkeypatch):  # noqa: F811
    """etcd's process crashed (the tmpfs survives; systemd runs ExecStopPost, then restarts the unit): no save of
    the whole database before the restart; the restart starts on the tmpfs. A clean stop still saves."""
    h, tmp = helper
    _write_member(tmp / 'data', term=3, commit=40)
    monkeypatch.setenv('SERVICE_RESULT', 'signal')
    monkeypatch.setattr(member, 'unit_restarts', lambda node: True)
    assert cli.main_verb(h, 'poststop') == 0
    assert h.current_copy() is None and not (tmp / 'state' / 'clean.json').exists()
    cli.cmd_prestart(h, None)
    assert rnode.read_json(str(tmp / 'state' / 'state.json'))['last_start']['action'] == decide.USE_TMPFS
    # a unit that will not be restarted (Restart=no) is saved as before
    monkeypatch.setattr(member, 'unit_restarts', lambda node: False)
    assert cli.main_verb(h, 'poststop') == 0
    assert h.current_copy() is not None
    monkeypatch.setenv('SERVICE_RESULT', 'success')
    monkeypatch.setattr(member, 'unit_restarts', lambda node: True)
    _write_member(tmp / 'data', term=3, commit=41)
    assert cli.main_verb(h, 'poststop') == 0
    assert rnode.read_json(str(tmp / 'state' / 'clean.json'))['wal']['commit'] == 41


# ---- (g) the kubelet path: ramdisk_stop_command -------------------------------------------------------------

def test_save_of_a_running_static_pod_runs_the_stop_command_and_records_it(helper, monkeypatch):  # noqa: F811
    """The unit stopped but its etcd still runs (a static pod outlives kubelet): the save runs the stop command,
    waits for bbolt's lock and records that it did (the saved event)."""
    h, tmp = helper
    _write_member(tmp / 'data', term=3, commit=40)
    stopped = tmp / 'pod-stopped'
    h.cfg['stop_command'] = ['touch', str(stopped)]
    monkeypatch.setattr(h, 'db_locked', lambda: not stopped.exists())
    assert diskcopy.save(h, 'poststop') == 0
    events = [json.loads(line) for line in open(str(tmp / 'state' / 'events.log'))]
    saved = [e for e in events if e['event'] == 'saved']
    assert saved[-1]['stop_command'] is True
    assert (tmp / 'state' / 'clean.json').exists()


@pytest.mark.parametrize('command', [['/nonexistent/stop-etcd-pod'], ['false']])
def test_a_failing_stop_command_is_a_clear_failure_without_a_clean_mark(helper, monkeypatch, command):  # noqa: F811
    h, tmp = helper
    _write_member(tmp / 'data', term=3, commit=40)
    h.cfg['stop_command'] = command
    h.cfg['stop_wait'] = 0
    monkeypatch.setattr(h, 'db_locked', lambda: True)
    with pytest.raises(rnode.Fail, match='ramdisk_stop_command'):
        diskcopy.save(h, 'poststop')
    assert not (tmp / 'state' / 'clean.json').exists()
