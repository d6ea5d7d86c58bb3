# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Table tests for the snapshot retention planner."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _retention as r

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 21, 21, 0, 0, tzinfo=UTC)  # a Saturday, ISO week 2026-W47


def at(days=0, hours=0, base=NOW):
    return base - datetime.timedelta(days=days, hours=hours)


def snap(name, when, verified=True):
    return {'name': name, 'time': when, 'verified': verified}


def hourly(n, verified=True):
    """n snapshots, one an hour, newest first: h000 is NOW."""
    return [snap('h%03d' % i, at(hours=i), verified) for i in range(n)]


def daily(n, hour_offset=0):
    """n snapshots, one a day at NOW - i days (- hour_offset hours)."""
    return [snap('d%03d' % i, at(days=i, hours=hour_offset)) for i in range(n)]


def names(entries):
    return [e['name'] for e in entries]


CASES = [
    # (id, snapshots, policy, expected kept names (newest first) or None, expected pruned names or None)
    ('empty', [], None, [], []),
    ('single kept', [snap('a', at())], None, ['a'], []),
    ('default keeps 31 daily + last 10 of 40 days',
     daily(40), None, ['d%03d' % i for i in range(31)], ['d%03d' % i for i in range(31, 40)]),
    ('keep_last only', hourly(5), {'keep_last': 2, 'keep_daily': 0}, ['h000', 'h001'], ['h002', 'h003', 'h004']),
    # 30 hourly snapshots span today (22 of them: 21:00..00:00) and yesterday; daily keeps the newest of each day
    ('daily picks newest of each day', hourly(30), {'keep_last': 0, 'keep_daily': 2},
     ['h000', 'h022'], None),
    ('daily window is calendar days', daily(5), {'keep_last': 0, 'keep_daily': 3},
     ['d000', 'd001', 'd002'], ['d003', 'd004']),
    ('all zero keeps newest verified only', hourly(3), {'keep_last': 0, 'keep_daily': 0},
     ['h000'], ['h001', 'h002']),
    ('keep_last larger than count', hourly(3), {'keep_last': 10, 'keep_daily': 0}, ['h000', 'h001', 'h002'], []),
    # 2026-11-21 is a Saturday: weeks start on Mondays 11-16, 11-09, 11-02, ...
    ('weekly iso weeks', daily(20), {'keep_last': 0, 'keep_daily': 0, 'keep_weekly': 3},
     ['d000', 'd006', 'd013'], None),
    ('monthly', daily(70), {'keep_last': 0, 'keep_daily': 0, 'keep_monthly': 3},
     ['d000', 'd021', 'd052'], None),
    ('unverified never counted, old ones pruned',
     [snap('new', at()), snap('bad', at(hours=1), False), snap('old', at(hours=2))],
     {'keep_last': 2, 'keep_daily': 0}, ['new', 'old'], ['bad']),
    ('unverified newer than newest verified kept (maybe in progress)',
     [snap('part', at(), False), snap('good', at(hours=1))], {'keep_last': 1, 'keep_daily': 0},
     ['part', 'good'], []),
    ('only unverified: nothing pruned', [snap('p1', at(), False), snap('p2', at(hours=1), False)],
     {'keep_last': 0, 'keep_daily': 0}, ['p1', 'p2'], []),
    ('newest verified protected even when newer unverified exist',
     [snap('p', at(), False), snap('v1', at(hours=1)), snap('v2', at(hours=2))],
     {'keep_last': 0, 'keep_daily': 0}, ['p', 'v1'], ['v2']),
    ('future snapshot kept (clock skew)', [snap('fut', at(days=-2)), snap('now', at())],
     {'keep_last': 0, 'keep_daily': 1}, ['fut', 'now'], []),
    ('ties broken by name', [snap('b', at()), snap('a', at())], {'keep_last': 1, 'keep_daily': 0}, ['b'], ['a']),
]


@pytest.mark.parametrize('snaps,policy,kept,pruned', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_table(snaps, policy, kept, pruned):
    result = r.plan_retention(snaps, policy, NOW)
    all_names = set(s['name'] for s in snaps)
    # partition: every snapshot is in exactly one of keep/prune
    assert set(names(result['keep'])) | set(names(result['prune'])) == all_names
    assert not set(names(result['keep'])) & set(names(result['prune']))
    if kept is not None:
        assert names(result['keep']) == kept
    if pruned is not None:
        assert names(result['prune']) == pruned
    for entry in result['keep']:
        assert entry['reasons']
    for entry in result['prune']:
        assert entry['reason']


def test_reasons_are_explicit():
    result = r.plan_retention(daily(3), {'keep_last': 1, 'keep_daily': 2, 'keep_weekly': 1, 'keep_monthly': 1}, NOW)
    first = result['keep'][0]
    assert first['name'] == 'd000'
    assert first['reasons'] == ['last', 'daily 2026-11-21', 'weekly 2026-W47', 'monthly 2026-11']
    assert result['keep'][1]['reasons'] == ['daily 2026-11-20']
    assert [e['reason'] for e in result['prune']] == ['outside retention policy']


def test_order_of_input_does_not_matter():
    snaps = daily(12) + hourly(7)
    policy = {'keep_last': 3, 'keep_daily': 4, 'keep_weekly': 2}
    a = r.plan_retention(snaps, policy, NOW)
    b = r.plan_retention(list(reversed(snaps)), policy, NOW)
    assert a == b


@pytest.mark.parametrize('tz_hours', [-10, 0, 5, 14])
def test_timezone_explicit(tz_hours):
    """The same instants give the same plan whatever offset they are written in; day buckets are UTC days."""
    tz = datetime.timezone(datetime.timedelta(hours=tz_hours))
    # 23:30 UTC on the 20th and 00:30 UTC on the 21st are on different UTC days
    s1 = snap('late', datetime.datetime(2026, 11, 20, 23, 30, tzinfo=UTC).astimezone(tz))
    s2 = snap('early', datetime.datetime(2026, 11, 21, 0, 30, tzinfo=UTC).astimezone(tz))
    result = r.plan_retention([s1, s2], {'keep_last': 0, 'keep_daily': 2}, NOW.astimezone(tz))
    assert names(result['keep']) == ['early', 'late']
    assert [k['reasons'] for k in result['keep']] == [['daily 2026-11-21'], ['daily 2026-11-20']]


def test_naive_and_timestamp_times_are_utc():
    ts = NOW.timestamp()
    result = r.plan_retention([snap('a', ts), snap('b', NOW.replace(tzinfo=None) - datetime.timedelta(days=1))],
                              {'keep_last': 0, 'keep_daily': 2}, NOW)
    assert [k['reasons'] for k in result['keep']] == [['daily 2026-11-21'], ['daily 2026-11-20']]


def test_defaults():
    assert r.normalize_policy() == {'keep_last': 10, 'keep_daily': 31, 'keep_weekly': 0, 'keep_monthly': 0}
    assert r.normalize_policy({'keep_last': None, 'keep_weekly': 4})['keep_weekly'] == 4


@pytest.mark.parametrize('policy', [
    {'keep_last': -1}, {'keep_daily': 'x'}, {'keep_hourly': 3}, {'keep_weekly': True}, {'keep_monthly': 1.5},
])
def test_bad_policy(policy):
    with pytest.raises(ValueError):
        r.plan_retention([], policy, NOW)


def test_bad_inputs():
    with pytest.raises(ValueError):
        r.plan_retention([snap('a', NOW), snap('a', NOW)], None, NOW)
    with pytest.raises(TypeError):
        r.plan_retention([snap('a', 'yesterday')], None, NOW)


# ---- a clock that steps back (boards without a battery-backed clock): the newest DATA is the highest revision ----

def rsnap(name, when, revision, verified=True):
    return {'name': name, 'time': when, 'verified': verified, 'revision': revision}


CLOCK_STEP_CASES = [
    # (id, snapshots, policy, names that must be kept, names that must be pruned)
    # the clock stepped back a day after r20: the r30 snapshot is dated before both older snapshots
    ('keep_last 1 keeps the highest revision',
     [rsnap('r10', at(hours=2), 10), rsnap('r20', at(hours=1), 20), rsnap('r30', at(days=1), 30)],
     {'keep_last': 1, 'keep_daily': 0}, ['r30'], ['r10']),
    ('all zero keeps the highest revision',
     [rsnap('r10', at(hours=2), 10), rsnap('r30', at(days=3), 30)],
     {'keep_last': 0, 'keep_daily': 0}, ['r30'], ['r10']),
    ('an unverified higher revision does not count',
     [rsnap('r10', at(hours=1), 10), rsnap('r30', at(days=1), 30, verified=False)],
     {'keep_last': 0, 'keep_daily': 0}, ['r10'], []),
    ('without revisions: time order as before',
     [snap('a', at(hours=1)), snap('b', at(days=1))], {'keep_last': 1, 'keep_daily': 0}, ['a'], ['b']),
]


@pytest.mark.parametrize('snaps,policy,kept,pruned', [c[1:] for c in CLOCK_STEP_CASES],
                         ids=[c[0] for c in CLOCK_STEP_CASES])
def test_clock_step_back_never_prunes_the_highest_revision(snaps, policy, kept, pruned):
    plan = r.plan_retention(snaps, policy, now=NOW)
    for name in kept:
        assert name in names(plan['keep']), plan
    for name in pruned:
        assert name in names(plan['prune']), plan
