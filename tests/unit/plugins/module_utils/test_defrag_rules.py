# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Table tests for the defragmentation rule and member ordering."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _defrag_rules as d

MIB = 1024 * 1024
GIB = 1024 * MIB

RULE_CASES = [
    # (id, db_size, in_use, rule, match, clause substring expected in reasons)
    ('empty db', 0, 0, None, False, 'below min_free_bytes'),
    ('fresh db little garbage', 20 * MIB, 18 * MIB, None, False, 'below min_free_bytes'),
    ('half free but below floor', 10 * MIB, 4 * MIB, None, False, 'below min_free_bytes'),
    ('half free above floor', 40 * MIB, 20 * MIB, None, True, 'free ratio 0.5000 >= min_free_ratio'),
    ('just under ratio', 100 * MIB, 51 * MIB, None, False, 'no threshold reached'),
    ('free >= 100 MiB on a big db', 1500 * MIB, 1400 * MIB, None, True, 'free_bytes_trigger'),
    ('free just under 100 MiB on a big db', 1000 * MIB, 901 * MIB, None, False, 'no threshold reached'),
    ('near quota with some free', int(1.7 * GIB), int(1.7 * GIB) - 9 * MIB, None, True, 'quota usage'),
    ('near quota, nothing reclaimable', int(1.7 * GIB), int(1.7 * GIB) - MIB, None, False, 'below min_free_bytes'),
    ('custom quota', 90 * MIB, 80 * MIB, {'quota_bytes': 100 * MIB}, True, 'quota usage 0.9000'),
    ('quota 0 means etcd default 2 GiB', 90 * MIB, 80 * MIB, {'quota_bytes': 0}, False, 'no threshold reached'),
    ('ratio disabled', 40 * MIB, 20 * MIB, {'min_free_ratio': 0}, False, 'no threshold reached'),
    ('trigger disabled', 1500 * MIB, 1400 * MIB, {'free_bytes_trigger': 0}, False, 'no threshold reached'),
    ('quota clause disabled', int(1.7 * GIB), int(1.7 * GIB) - 9 * MIB, {'quota_usage_ratio': 0}, False,
     'no threshold reached'),
    ('floor 0, tiny db with garbage', 4096 * 8, 4096 * 2, {'min_free_bytes': 0}, True, 'free ratio 0.7500'),
    ('floor 0 but nothing free', 4096 * 8, 4096 * 8, {'min_free_bytes': 0}, False, 'below min_free_bytes'),
    ('in use above size (racy status) is no garbage', 10 * MIB, 11 * MIB, {'min_free_bytes': 0}, False, 'below'),
    ('several clauses', 400 * MIB, 100 * MIB, None, True, 'free_bytes_trigger'),
]


@pytest.mark.parametrize('db_size,in_use,rule,match,reason', [c[1:] for c in RULE_CASES],
                         ids=[c[0] for c in RULE_CASES])
def test_rule_table(db_size, in_use, rule, match, reason):
    result = d.evaluate(db_size, in_use, rule)
    assert result['match'] is match
    assert any(reason in r for r in result['reasons']), result['reasons']
    assert result['free'] == max(db_size - in_use, 0)


def test_several_clauses_listed():
    result = d.evaluate(400 * MIB, 100 * MIB, {'quota_bytes': 450 * MIB})
    assert len(result['reasons']) == 3
    assert result['free_ratio'] == 0.75


def test_json_gateway_strings_accepted():
    # the gateway returns int64 as strings; omitted values mean zero
    assert d.evaluate('41943040', '20971520')['match'] is True
    assert d.evaluate(None, None)['match'] is False


@pytest.mark.parametrize('rule', [
    {'min_free_bytes': -1}, {'min_free_ratio': 'half'}, {'unknown': 1}, {'quota_usage_ratio': True},
])
def test_bad_rule(rule):
    with pytest.raises(ValueError):
        d.evaluate(1, 1, rule)


def m(name, leader=False, learner=False, db=40 * MIB, used=20 * MIB, mid=None):
    return {'name': name, 'member_id': mid or 'id-' + name, 'is_leader': leader, 'is_learner': learner,
            'db_size': db, 'db_size_in_use': used}


ORDER_CASES = [
    ('leader last', [m('a', leader=True), m('b'), m('c')], ['b', 'c', 'a']),
    ('leader in the middle', [m('c'), m('b', leader=True), m('a')], ['a', 'c', 'b']),
    ('learners first then followers then leader',
     [m('z', leader=True), m('l2', learner=True), m('f'), m('l1', learner=True)], ['l1', 'l2', 'f', 'z']),
    ('no leader known', [m('b'), m('a')], ['a', 'b']),
    ('single member', [m('only', leader=True)], ['only']),
    ('same name sorted by id', [m('x', mid='2'), m('x', mid='1')], ['x', 'x']),
]


@pytest.mark.parametrize('members,expected', [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES])
def test_order_table(members, expected):
    ordered = d.order_members(members)
    assert [o['name'] for o in ordered] == expected
    assert d.order_members(list(reversed(members))) == ordered


def test_two_leaders_refused():
    with pytest.raises(ValueError):
        d.order_members([m('a', leader=True), m('b', leader=True)])


def test_plan_marks_and_orders():
    members = [m('a', leader=True), m('b', db=20 * MIB, used=19 * MIB), m('c', learner=True)]
    result = d.plan(members)
    assert [(p['name'], p['role'], p['defrag']) for p in result] == [
        ('c', 'learner', True), ('b', 'follower', False), ('a', 'leader', True)]
    forced = d.plan(members, force=True)
    assert all(p['defrag'] for p in forced)
    assert forced[1]['reasons'][0] == 'force'
