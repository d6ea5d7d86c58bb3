# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Table tests for the health gate, raft lag, the snapshot member choice and the restore source choice."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _cluster as c


def member(i, name=None, learner=False):
    return dict(id=i, name='etcd%d' % i if name is None else name, peer_urls=['https://10.0.0.%d:2380' % i],
                client_urls=['https://10.0.0.%d:2379' % i], is_learner=learner)


def probe(i, healthy=True, leader=1, applied=100, learner=False, cluster=7, error=None, errors=()):
    return dict(endpoint='https://10.0.0.%d:2379' % i, member_id=i, cluster_id=cluster, leader_id=leader,
                is_leader=leader == i, is_learner=learner, healthy=healthy, raft_index=applied,
                raft_applied_index=applied, error=error if error or healthy else 'unhealthy: x',
                errors=list(errors), db_size=1, db_size_in_use=1, revision=5)


def view(members, probes, leader=1, leaders=None):
    status = dict((p['member_id'], p) for p in probes)
    health = dict((m['id'], bool(status.get(m['id'], {}).get('healthy'))) for m in members)
    return dict(cluster_id=7, members=members, endpoints=probes, status=status, health=health, leader_id=leader,
                leaders=leaders if leaders is not None else ([leader] if leader else []),
                quorum=c.quorum(members, set(k for k, v in health.items() if v)))


THREE = [member(1), member(2), member(3)]
HEALTHY = [probe(1), probe(2), probe(3)]

GATE = [
    ('all healthy', view(THREE, HEALTHY), [], None, False, []),
    ('one down', view(THREE, [probe(1), probe(2), probe(3, healthy=False)]), [], None, False,
     ['member 0000000000000003 (etcd3) is unhealthy']),
    ('unstarted learner', view(THREE + [member(4, name='', learner=True)], HEALTHY), [], None, False,
     ['(unstarted) is unhealthy: added but not started yet']),
    ('no leader', view(THREE, [probe(i, leader=0) for i in (1, 2, 3)], leader=0), [], None, False,
     ['no member knows a leader']),
    ('split leaders', view(THREE, HEALTHY, leaders=[1, 2]), [], None, False, ['disagree on the leader']),
    ('alarm', view(THREE, HEALTHY), [dict(member_id=2, alarm='NOSPACE')], None, False, ['alarm NOSPACE']),
    ('nospace allowed', view(THREE, [probe(1), probe(2, healthy=False, error='alarm:NOSPACE'), probe(3)]),
     [dict(member_id=2, alarm='NOSPACE')], None, True, []),
    ('corrupt not allowed', view(THREE, HEALTHY), [dict(member_id=2, alarm='CORRUPT')], None, True,
     ['alarm CORRUPT']),
    ('spread within', view(THREE, [probe(1, applied=100), probe(2, applied=95), probe(3, applied=100)]), [], 5,
     False, []),
    ('spread above', view(THREE, [probe(1, applied=100), probe(2, applied=94), probe(3, applied=100)]), [], 5,
     False, ['applied raft indexes differ by 6']),
    ('no quorum', view(THREE, [probe(1), probe(2, healthy=False), probe(3, healthy=False)]), [], None, False,
     ['no healthy quorum: 1 of 3']),
]


@pytest.mark.parametrize('v, alarms, spread, nospace, words', [g[1:] for g in GATE], ids=[g[0] for g in GATE])
def test_gate_problems(v, alarms, spread, nospace, words):
    problems = c.gate_problems(v, alarms, max_raft_index_spread=spread, allow_nospace=nospace)
    assert bool(problems) == bool(words), problems
    for word in words:
        assert any(word in p for p in problems), (word, problems)


def test_foreign_endpoint_is_a_problem():
    v = view(THREE, HEALTHY + [dict(probe(9), cluster_id=8)])
    assert any('not in the member list' in p for p in c.gate_problems(v))


@pytest.mark.parametrize('leader_index, p, expected', [
    (100, probe(2, applied=90), 10), (100, probe(2, applied=100), 0), (100, probe(2, applied=120), 0),
    (None, probe(2), None), (100, dict(raft_applied_index=None), None), (100, None, None),
])
def test_raft_lag(leader_index, p, expected):
    assert c.raft_lag(leader_index, p) == expected


def test_index_spread_ignores_unreachable():
    assert c.index_spread([probe(1, applied=10), probe(2, applied=4), dict(member_id=None, raft_applied_index=0)]) == 6
    assert c.index_spread([probe(1)]) == 0


CHOOSE_MEMBER = [
    ('follower preferred', HEALTHY, 100, 10, 2),
    ('least lag follower', [probe(1), probe(2, applied=95), probe(3, applied=99)], 100, 10, 3),
    ('lagging follower skipped', [probe(1), probe(2, applied=50), probe(3, healthy=False)], 100, 10, 1),
    ('learner skipped', [probe(1), probe(2, learner=True)], 100, 10, 1),
    ('nothing healthy', [probe(1, healthy=False)], 100, 10, None),
    ('two clusters', [probe(1), probe(2, cluster=8)], 100, 10, None),
    ('leader unknown: no lag check', [probe(2, applied=1), probe(3, applied=2)], None, 10, 3),
]


@pytest.mark.parametrize('probes, leader_index, lag, expected', [x[1:] for x in CHOOSE_MEMBER],
                         ids=[x[0] for x in CHOOSE_MEMBER])
def test_choose_snapshot_member(probes, leader_index, lag, expected):
    chosen, problems = c.choose_snapshot_member(probes, leader_index, lag)
    assert (chosen or {}).get('member_id') == expected
    if expected is None:
        assert problems


def snap(name, rev, verified=True, cluster='aa'):
    return dict(name=name, revision=rev, verified=verified, cluster_id=cluster)


RESTORE = [
    ('highest revision wins, not newest name', [snap('z-new', 5), snap('a-old', 9)], 'aa', None, 'a-old', None),
    ('unverified ignored', [snap('a', 9, verified=False), snap('b', 5)], 'aa', None, 'b', None),
    ('foreign cluster excluded', [snap('a', 9, cluster='bb'), snap('b', 5)], 'aa', None, 'b', None),
    ('unknown identity only as fallback', [snap('a', 9, cluster=None), snap('b', 5)], 'aa', None, 'b', None),
    ('unknown identity when nothing else', [snap('a', 9, cluster=None), snap('b', 5, cluster='bb')], 'aa', None,
     'a', None),
    ('any cluster when none wanted', [snap('a', 9, cluster='bb'), snap('b', 5)], None, None, 'a', None),
    ('tie goes to known identity', [snap('a', 5, cluster=None), snap('b', 5)], None, None, 'b', None),
    ('loss against watermark', [snap('a', 5)], 'aa', 12, 'a', 7),
    ('no loss above watermark', [snap('a', 15)], 'aa', 12, 'a', 0),
    ('nothing verified', [snap('a', 5, verified=False)], 'aa', None, None, None),
    ('revision unknown', [snap('a', None)], 'aa', None, None, None),
    ('empty', [], None, None, None, None),
]


@pytest.mark.parametrize('cands, cluster, watermark, expected, loss', [r[1:] for r in RESTORE],
                         ids=[r[0] for r in RESTORE])
def test_choose_restore_source(cands, cluster, watermark, expected, loss):
    res = c.choose_restore_source(cands, cluster_id=cluster, min_revision=watermark)
    assert (res['source'] or {}).get('name') == expected
    assert res['loss'] == loss
    assert len(res['rejected']) + (1 if expected else 0) == len(cands)
