# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Table tests for the pure decisions of a defragmentation run (_defrag): room for the copy on a RAM disk, the
member that takes over the leadership, and the plan with a member selection and space checks."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _defrag as d

MIB = 1024 * 1024

SPACE_CASES = [
    # (id, in_use, free, reserve, refused)
    ('not checked (no tmpfs)', 500 * MIB, None, 64 * MIB, False),
    ('plenty of room', 100 * MIB, 1000 * MIB, 64 * MIB, False),
    ('exactly enough', 100 * MIB, 164 * MIB, 64 * MIB, False),
    ('one byte short', 100 * MIB, 164 * MIB - 1, 64 * MIB, True),
    ('in use larger than free', 300 * MIB, 200 * MIB, 0, True),
    ('empty db, reserve only', 0, 63 * MIB, 64 * MIB, True),
    ('reserve 0', 10 * MIB, 10 * MIB, 0, False),
]


@pytest.mark.parametrize('case', SPACE_CASES, ids=[c[0] for c in SPACE_CASES])
def test_space_problem(case):
    dummy, in_use, free, reserve, refused = case
    problem = d.space_problem('etcd2', in_use, free, reserve)
    assert (problem is not None) == refused
    if refused:
        assert 'etcd2' in problem and 'ramdisk_size' in problem and str(free) in problem


def _member(i, name=None, learner=False):
    return dict(id=i, name=('m%d' % i) if name is None else name, is_learner=learner)


def _probe(i, applied, healthy=True, index=None):
    return dict(endpoint='https://10.0.0.%d:2379' % i, member_id=i, healthy=healthy, raft_applied_index=applied,
                raft_index=index if index is not None else applied)


TRANSFER_CASES = [
    # (id, members, probes, leader, max_lag, prefer, chosen id, passed-over substring)
    ('smallest lag wins', [_member(1), _member(2), _member(3)],
     {1: _probe(1, 100), 2: _probe(2, 95), 3: _probe(3, 99)}, 1, 10, (), 3, None),
    ('preferred (already defragmented) first', [_member(1), _member(2), _member(3)],
     {1: _probe(1, 100), 2: _probe(2, 95), 3: _probe(3, 99)}, 1, 10, (2,), 2, None),
    ('same lag: by name', [_member(1), _member(3, 'b'), _member(2, 'a')],
     {1: _probe(1, 100), 2: _probe(2, 100), 3: _probe(3, 100)}, 1, 10, (), 2, None),
    ('lagging member passed over', [_member(1), _member(2), _member(3)],
     {1: _probe(1, 1000), 2: _probe(2, 500), 3: _probe(3, 999)}, 1, 100, (2,), 3, 'm2 is 500 behind'),
    ('learner never', [_member(1), _member(2, learner=True)],
     {1: _probe(1, 100), 2: _probe(2, 100)}, 1, 10, (), None, 'm2 is a learner'),
    ('unhealthy never', [_member(1), _member(2)],
     {1: _probe(1, 100), 2: _probe(2, 100, healthy=False)}, 1, 10, (), None, 'm2 is not healthy'),
    ('unstarted never', [_member(1), _member(2, name='')],
     {1: _probe(1, 100)}, 1, 10, (), None, 'has not started'),
    ('no probe of the follower', [_member(1), _member(2)],
     {1: _probe(1, 100)}, 1, 10, (), None, 'm2 is not healthy'),
    ('leader index unknown', [_member(1), _member(2)],
     {2: _probe(2, 100)}, 1, 10, (), None, 'unknown behind'),
    ('single member', [_member(1)], {1: _probe(1, 100)}, 1, 10, (), None, None),
]

NOSPACE_PROBE = dict(_probe(2, 100, healthy=False), leader_id=1, error='health: ALARM NOSPACE',
                     errors=['alarm NOSPACE active'])


@pytest.mark.parametrize('allow, chosen', [(True, 2), (False, None)])
def test_choose_transferee_under_nospace(allow, chosen):
    """Under a NOSPACE alarm every member answers unhealthy; a defragmentation (its cure) may still hand the
    leadership to such a member, nothing else may."""
    member, passed = d.choose_transferee([_member(1), _member(2)], {1: _probe(1, 100), 2: NOSPACE_PROBE}, 1, 10,
                                         allow_nospace=allow)
    assert (member['id'] if member else None) == chosen
    other = dict(_probe(2, 100, healthy=False), leader_id=1, error='connection refused')
    member, dummy = d.choose_transferee([_member(1), _member(2)], {1: _probe(1, 100), 2: other}, 1, 10,
                                        allow_nospace=allow)
    assert member is None


@pytest.mark.parametrize('case', TRANSFER_CASES, ids=[c[0] for c in TRANSFER_CASES])
def test_choose_transferee(case):
    dummy, members, probes, leader, max_lag, prefer, chosen, passed_sub = case
    member, passed = d.choose_transferee(members, probes, leader, max_lag, prefer)
    assert (member['id'] if member else None) == chosen
    if passed_sub:
        assert any(passed_sub in p for p in passed), passed
    assert all(leader != m['id'] for m in [member] if m)


def _view(sizes, leader=1, learners=()):
    members = [dict(id=i, name='m%d' % i, is_learner=i in learners) for i in sorted(sizes)]
    status = dict((i, dict(endpoint='https://10.0.0.%d:2379' % i, db_size=s[0], db_size_in_use=s[1]))
                  for i, s in sizes.items())
    return dict(members=members, status=status, leader_id=leader)


FRAGMENTED = {1: (100 * MIB, 20 * MIB), 2: (100 * MIB, 20 * MIB), 3: (100 * MIB, 20 * MIB)}

PLAN_CASES = [
    # (id, sizes, only, free_space, force, expected defrag order, refusal substring)
    ('all fragmented, leader last', FRAGMENTED, None, None, False, ['m2', 'm3', 'm1'], None),
    ('only one member', FRAGMENTED, ['m3'], None, False, ['m3'], None),
    ('only the leader', FRAGMENTED, ['m1'], None, False, ['m1'], None),
    ('nothing to do', {1: (10 * MIB, 9 * MIB), 2: (10 * MIB, 9 * MIB)}, None, None, False, [], None),
    ('force', {1: (10 * MIB, 9 * MIB), 2: (10 * MIB, 9 * MIB)}, None, None, True, ['m2', 'm1'], None),
    ('tmpfs with room', FRAGMENTED, None, {'m2': 200 * MIB}, False, ['m2', 'm3', 'm1'], None),
    ('tmpfs too small refuses the run', FRAGMENTED, None, {'m2': 50 * MIB}, False, ['m2', 'm3', 'm1'],
     'm2: the file system'),
    ('tmpfs too small on a member not selected', FRAGMENTED, ['m3'], {'m2': 1}, False, ['m3'], None),
    ('tmpfs too small on a member the rule skips', {1: (100 * MIB, 20 * MIB), 2: (10 * MIB, 9 * MIB)}, None,
     {'m2': 1}, False, ['m1'], None),
]


@pytest.mark.parametrize('case', PLAN_CASES, ids=[c[0] for c in PLAN_CASES])
def test_plan_run(case):
    dummy, sizes, only, free_space, force, order, refusal = case
    members, refusals = d.plan_run(_view(sizes), {'min_free_bytes': MIB}, force, only, free_space)
    assert [m['name'] for m in members if m['defrag']] == order
    assert [m['role'] for m in members][-1] == 'leader'
    if refusal:
        assert len(refusals) == 1 and refusal in refusals[0], refusals
    else:
        assert refusals == []
    for m in members:
        if only is not None and m['name'] not in only:
            assert not m['defrag'] and m['reasons'] == ['not selected (members)']


def test_plan_run_bad_rule_is_a_core_error():
    with pytest.raises(d.DefragError):
        d.plan_run(_view(FRAGMENTED, leader=0), {'min_free_bytes': -1})


class _SizesClient(object):
    """status() answers the next in-use size of each endpoint from a script (the last one repeats)."""

    def __init__(self, script):
        self.script = dict((ep, list(v)) for ep, v in script.items())

    def status(self, endpoint):
        seq = self.script[endpoint]
        value = seq.pop(0) if len(seq) > 1 else seq[0]
        if value is None:
            raise d.EtcdError('down', kind='unreachable')
        return dict(db_size_in_use=value)


SETTLE_CASES = [
    # (id, script per endpoint, timeout, settled)
    ('idle cluster settles at once', {'a': [10], 'b': [20]}, 10, True),
    ('a drop then growth under load', {'a': [100, 100, 40, 41, 42, 43], 'b': [100, 40, 40, 41, 41]}, 10, True),
    ('keeps dropping until the deadline', {'a': list(range(100, 0, -1))}, 5, False),
    ('a member that does not answer never settles', {'a': [10], 'b': [None]}, 3, False),
]


@pytest.mark.parametrize('case', SETTLE_CASES, ids=[c[0] for c in SETTLE_CASES])
def test_wait_in_use_settled(case):
    dummy, script, timeout, settled = case
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    client = _SizesClient(script)
    assert d.wait_in_use_settled(client, sorted(script), timeout, sleep=sleep, clock=lambda: now[0]) is settled
    assert now[0] <= timeout + 0.5


def test_gate_tolerates_a_cluster_wide_nospace_alarm():
    """Every member unhealthy only because of NOSPACE: the gate of a defragmentation (allow_nospace) is open."""
    from ansible_collections.etcdkit.etcd.plugins.module_utils import _cluster as c
    members = [dict(id=i, name='m%d' % i, is_learner=False, client_urls=['https://10.0.0.%d:2379' % i])
               for i in (1, 2, 3)]
    status = dict((i, dict(endpoint='https://10.0.0.%d:2379' % i, member_id=i, cluster_id=9, leader_id=1,
                           healthy=False, error='unhealthy: ALARM NOSPACE', errors=['alarm:NOSPACE'],
                           raft_applied_index=5)) for i in (1, 2, 3))
    view = dict(cluster_id=9, members=members, endpoints=list(status.values()), health={1: False, 2: False, 3: False},
                status=status, leader_id=1, leaders=[1], quorum=c.quorum(members, set()))
    alarms = [dict(member_id=1, alarm='NOSPACE')]
    assert c.gate_problems(view, alarms, allow_nospace=True) == []
    strict = c.gate_problems(view, alarms)
    assert any('no healthy quorum' in p for p in strict) and any('NOSPACE' in p for p in strict)


def _turn(holder, until, rev=7):
    import json
    return dict(value=json.dumps({'holder': holder, 'until': until}), mod_revision=rev)


TURN_CASES = [
    # (id, key as read, holder asking, now, expected)
    ('free', None, 'm1', 100.0, ('take', 0)),
    ('held by another, not expired', _turn('m2', 200.0), 'm1', 100.0, ('wait', 'm2', 200.0)),
    ('held by another, expired', _turn('m2', 99.0), 'm1', 100.0, ('take', 7)),
    ('held by another, expires now', _turn('m2', 100.0), 'm1', 100.0, ('take', 7)),
    ('left by an earlier run of the same member', _turn('m1', 500.0), 'm1', 100.0, ('take', 7)),
    ('unreadable value', dict(value='not json', mod_revision=3), 'm1', 100.0, ('take', 3)),
    ('value without until', dict(value='{"holder": "m2"}', mod_revision=4), 'm1', 100.0, ('take', 4)),
]


@pytest.mark.parametrize('case', TURN_CASES, ids=[c[0] for c in TURN_CASES])
def test_turn_decision(case):
    dummy, kv, holder, now, expected = case
    assert d.turn_decision(kv, holder, now) == expected


class _TurnClient(object):
    """The two calls DefragTurn makes, over one in-memory key with etcd's compare-and-swap semantics."""

    def __init__(self, kv=None, fail_put=None):
        self.kv, self.rev, self.fail_put, self.deleted = kv, 10, fail_put, []

    def get(self, key):
        return self.kv

    def put_if_unchanged(self, key, value, mod_revision=0):
        if self.fail_put:
            raise self.fail_put
        if (self.kv['mod_revision'] if self.kv else 0) != mod_revision:
            return False, self.rev
        self.rev += 1
        self.kv = dict(value=value, mod_revision=self.rev)
        return True, self.rev

    def delete_if_unchanged(self, key, mod_revision):
        self.deleted.append(mod_revision)
        if self.kv and self.kv['mod_revision'] == mod_revision:
            self.kv = None
        return True, self.rev


def test_turn_waits_for_another_member_then_takes_it():
    clock = [1000.0]
    client = _TurnClient(_turn('m2', 1005.0, rev=5))
    turn = d.DefragTurn(client, 'm1', hold_seconds=60, wait_seconds=30, poll=1.0,
                        sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    assert turn.take() is True and turn.waited_for == ['m2']
    assert 1005.0 <= clock[0] <= 1006.0
    assert '"holder": "m1"' in client.kv['value']
    turn.release()
    assert client.kv is None and client.deleted == [11]


def test_turn_gives_up_after_wait_seconds():
    clock = [1000.0]
    client = _TurnClient(_turn('m2', 5000.0))
    turn = d.DefragTurn(client, 'm1', hold_seconds=60, wait_seconds=30, poll=1.0,
                        sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    with pytest.raises(d.DefragError) as err:
        turn.take()
    assert 'm2 holds the defragmentation turn' in str(err.value) and 'nothing was defragmented' in str(err.value)
    assert clock[0] == 1030.0
    turn.release()  # never taken: nothing deleted
    assert client.deleted == []


def test_turn_that_cannot_be_written_fails_with_the_reason():
    from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
    client = _TurnClient(fail_put=EtcdError('etcdserver: mvcc: database space exceeded', kind='nospace'))
    turn = d.DefragTurn(client, 'm1', hold_seconds=60, wait_seconds=30)
    with pytest.raises(d.DefragError) as err:
        turn.take()
    assert 'database space exceeded' in str(err.value) and d.TURN_KEY in str(err.value)
