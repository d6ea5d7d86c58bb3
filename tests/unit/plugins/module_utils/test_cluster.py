# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Table tests for quorum, removal guard, member matching and the alarm disarm rule."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _cluster as c


def m(i, name=None, learner=False, urls=None):
    return dict(id=i, name='etcd%d' % i if name is None else name,
                peer_urls=urls if urls is not None else ['https://10.0.0.%d:2380' % i],
                client_urls=['https://10.0.0.%d:2379' % i], is_learner=learner)


THREE = [m(1), m(2), m(3)]


@pytest.mark.parametrize('members, healthy, expected', [
    (THREE, {1, 2, 3}, dict(voting=3, healthy_voting=3, required=2, ok=True)),
    (THREE, {1, 2}, dict(voting=3, healthy_voting=2, required=2, ok=True)),
    (THREE, {1}, dict(voting=3, healthy_voting=1, required=2, ok=False)),
    (THREE + [m(4, learner=True)], {1, 2, 4}, dict(voting=3, healthy_voting=2, required=2, ok=True)),
    (THREE + [m(4)], {1, 2}, dict(voting=4, healthy_voting=2, required=3, ok=False)),
    ([m(1)], {1}, dict(voting=1, healthy_voting=1, required=1, ok=True)),
    ([], set(), dict(voting=0, healthy_voting=0, required=0, ok=False)),
    ([m(1, learner=True)], {1}, dict(voting=0, healthy_voting=0, required=0, ok=False)),
])
def test_quorum(members, healthy, expected):
    assert c.quorum(members, healthy) == expected


@pytest.mark.parametrize('members, healthy, remove, refused, words', [
    (THREE, {1, 2, 3}, 1, False, ()),
    (THREE, {1, 2}, 3, False, ()),                   # removing the dead one is fine
    (THREE, {1, 2}, 1, True, ('1 of the remaining 2', '2 are needed')),
    (THREE, {1}, 2, True, ('remaining',)),
    (THREE, {1}, 3, True, ('remaining',)),            # after {1,2}: 1 healthy < 2
    (THREE + [m(4)], {1, 2}, 4, True, ('no healthy quorum now',)),  # after would be fine, but no quorum now
    ([m(1), m(2)], {1, 2}, 2, False, ()),
    ([m(1)], {1}, 1, True, ('last voting member',)),
    (THREE + [m(4, learner=True)], {1}, 4, False, ()),  # learners never count
    (THREE + [m(4)], {1, 2, 3}, 1, False, ()),
    (THREE + [m(4)], {1, 2, 3}, 4, False, ()),
    (THREE + [m(4)], {1, 2}, 1, True, ()),
    (THREE + [m(4), m(5)], {1, 2, 3}, 4, False, ()),  # 5 -> 4 members, 3 healthy >= 3
    (THREE + [m(4), m(5)], {1, 2, 3}, 1, True, ()),   # 4 remaining, 2 healthy < 3
    (THREE, {1, 2, 3}, 99, False, ()),                # unknown member: nothing to guard
])
def test_removal_check(members, healthy, remove, refused, words):
    reason = c.removal_check(members, healthy, remove)
    assert (reason is not None) == refused, reason
    for w in words:
        assert w in reason


def test_removal_check_no_quorum_before():
    # 5 voting, 2 healthy: removing a dead one leaves 4 with 2 healthy (< 3)
    members = [m(i) for i in range(1, 6)]
    assert c.removal_check(members, {1, 2}, 5) is not None


UNSTARTED = dict(id=7, name='', peer_urls=['https://10.0.0.7:2380'], client_urls=[], is_learner=True)


@pytest.mark.parametrize('name, urls, found, conflict_words', [
    ('etcd2', ['https://10.0.0.2:2380'], 2, None),
    ('etcd2', ['HTTPS://10.0.0.2:2380/'], 2, None),       # normalised comparison
    ('etcd2', None, 2, None),
    (None, ['https://10.0.0.3:2380'], 3, None),
    ('etcd9', ['https://10.0.0.9:2380'], None, None),     # new member
    ('etcd7', ['https://10.0.0.7:2380'], 7, None),        # added, not started: matched by URL
    ('etcd2', ['https://10.0.0.3:2380'], None, ('etcd2', 'belong to member')),
    ('etcd2', ['https://10.0.0.9:2380'], None, ('peer urls',)),
    ('etcd9', ['https://10.0.0.3:2380'], None, ('not to', 'etcd9')),
    (None, ['https://10.0.0.2:2380', 'https://10.0.0.3:2380'], None, ('several members',)),
    ('etcd2', ['https://10.0.0.2:2380', 'https://10.0.0.22:2380'], None, ('peer urls',)),
])
def test_match_member(name, urls, found, conflict_words):
    member, conflict = c.match_member(THREE + [UNSTARTED], name, urls)
    if conflict_words:
        assert member is None and conflict
        for w in conflict_words:
            assert w.lower() in conflict.lower()
    else:
        assert conflict is None
        assert (member['id'] if member else None) == found


NOSPACE = dict(member_id=1, alarm='NOSPACE')
CORRUPT = dict(member_id=2, alarm='CORRUPT')
GIB = 1 << 30


@pytest.mark.parametrize('alarms, which, sizes, force, disarm, refused', [
    ([], 'ALL', {1: 100}, False, [], False),
    ([NOSPACE], 'NOSPACE', {1: GIB, 2: GIB}, False, [NOSPACE], False),        # 50% of 2 GiB
    ([NOSPACE], 'NOSPACE', {1: GIB, 2: int(1.9 * GIB)}, False, [], True),   # largest member counts: 95%
    ([NOSPACE], 'NOSPACE', {1: GIB, 2: None}, False, [], True),             # unknown size
    ([NOSPACE], 'NOSPACE', {1: GIB, 2: None}, True, [NOSPACE], False),
    ([NOSPACE], 'NOSPACE', {1: 2 * GIB}, True, [NOSPACE], False),
    ([NOSPACE], 'CORRUPT', {1: 2 * GIB}, False, [], False),                 # not selected
    ([CORRUPT], 'CORRUPT', {1: 1}, False, [], True),
    ([CORRUPT], 'CORRUPT', {1: 1}, True, [CORRUPT], False),
    ([NOSPACE, CORRUPT], 'ALL', {1: 1, 2: 1}, False, [], True),             # all or nothing
    ([NOSPACE, CORRUPT], 'ALL', {1: 1, 2: 1}, True, [NOSPACE, CORRUPT], False),
    ([NOSPACE, CORRUPT], 'NOSPACE', {1: 1, 2: 1}, False, [NOSPACE], False),
    ([dict(member_id=1, alarm='NONE')], 'ALL', {1: 1}, False, [], False),
])
def test_alarm_plan(alarms, which, sizes, force, disarm, refused):
    to_disarm, refusals, usage = c.alarm_plan(alarms, which, sizes, 2 * GIB, 80, force)
    assert to_disarm == disarm
    assert bool(refusals) == refused
    known = [s for s in sizes.values() if s is not None]
    assert usage == pytest.approx(100.0 * max(known) / (2 * GIB))


def test_alarm_plan_threshold_is_inclusive():
    to_disarm, refusals, usage = c.alarm_plan([NOSPACE], 'NOSPACE', {1: 80}, 100, 80)
    assert usage == 80 and to_disarm == [NOSPACE] and not refusals
    to_disarm, refusals, usage = c.alarm_plan([NOSPACE], 'NOSPACE', {1: 81}, 100, 80)
    assert to_disarm == [] and 'max_quota_usage=80' in refusals[0]


def test_public_member_hex_ids():
    out = c.public_member(dict(id=0x8e9e05c52164694d, name='a', peer_urls=['u'], client_urls=[], is_learner=False),
                          {0x8e9e05c52164694d: True})
    assert out == dict(id='8e9e05c52164694d', name='a', peer_urls=['u'], client_urls=[], is_learner=False,
                       healthy=True)
