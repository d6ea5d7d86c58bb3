# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Table tests for the rolling-upgrade policy (plugins/module_utils/_upgrade.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _upgrade as u

THREE = ('a', 'b', 'c')


def same(version):
    return dict((n, version) for n in THREE)


PLAN_CASES = [
    # (id, versions, target, leader, auth, action, pending, v2store_check, problem substring or None)
    ('already there', same('3.5.33'), '3.5.33', 'a', False, 'none', [], False, None),
    ('patch upgrade, leader last', same('3.5.16'), '3.5.33', 'a', False, 'patch', ['b', 'c', 'a'], False, None),
    ('patch from 3.5.1', same('3.5.1'), '3.5.30', 'b', False, 'patch', ['a', 'c', 'b'], False, None),
    ('minor 3.4 -> 3.5', same('3.4.23'), '3.5.30', 'c', False, 'minor', ['a', 'b', 'c'], False, None),
    ('minor 3.4 -> 3.5 with auth on', same('3.4.23'), '3.5.30', 'c', True, 'refused', [], False,
     'authentication on'),
    ('patch with auth on is fine', same('3.5.1'), '3.5.33', 'c', True, 'patch', ['a', 'b', 'c'], False, None),
    ('half-way: only the rest is pending', {'a': '3.5.33', 'b': '3.5.16', 'c': '3.5.33'}, '3.5.33', 'a', False,
     'patch', ['b'], False, None),
    ('half-way minor: 3.4 and 3.5 mixed', {'a': '3.5.30', 'b': '3.4.23', 'c': '3.4.23'}, '3.5.30', 'b', False,
     'minor', ['c', 'b'], False, None),
    ('minor 3.5.32 -> 3.6 (the floor)', same('3.5.32'), '3.6.5', 'a', False, 'minor', ['b', 'c', 'a'], True, None),
    ('minor 3.5.33 -> 3.6', same('3.5.33'), '3.6.0', 'b', False, 'minor', ['a', 'c', 'b'], True, None),
    ('minor below the floor', same('3.5.30'), '3.6.5', 'a', False, 'refused', [], False, 'below 3.5.32'),
    ('one member below the floor', {'a': '3.5.33', 'b': '3.5.31', 'c': '3.5.33'}, '3.6.5', 'a', False, 'refused',
     [], False, 'b runs 3.5.31'),
    ('3.5 -> 3.6 with auth is allowed', same('3.5.33'), '3.6.5', 'a', True, 'minor', ['b', 'c', 'a'], True, None),
    ('3.6 patch: no v2store check', same('3.6.0'), '3.6.5', 'a', False, 'patch', ['b', 'c', 'a'], False, None),
    ('half-way to 3.6: check only for 3.5 members', {'a': '3.6.5', 'b': '3.5.33', 'c': '3.5.33'}, '3.6.5', 'b', False,
     'minor', ['c', 'b'], True, None),
    ('skipped minor 3.4 -> 3.6', same('3.4.23'), '3.6.5', 'a', False, 'refused', [], False, 'skip a minor'),
    ('skipped minor with a mixed cluster', {'a': '3.5.33', 'b': '3.4.23', 'c': '3.5.33'}, '3.6.5', 'a', False,
     'refused', [], False, 'skip a minor'),
    ('major change', same('3.5.33'), '4.0.0', 'a', False, 'refused', [], False, 'skip a minor'),
    ('downgrade patch', same('3.5.30'), '3.5.16', 'a', False, 'refused', [], False, 'downgrade'),
    ('downgrade minor', same('3.5.30'), '3.4.23', 'a', False, 'refused', [], False, 'downgrade'),
    ('one member newer = downgrade', {'a': '3.5.33', 'b': '3.5.30', 'c': '3.5.30'}, '3.5.30', 'a', False,
     'refused', [], False, 'a already runs 3.5.33'),
    ('a member without a version', {'a': '3.5.30', 'b': None, 'c': '3.5.30'}, '3.5.33', 'a', False, 'refused', [],
     False, 'Member b did not report'),
    ('garbage version reported', {'a': '3.5.30', 'b': 'x', 'c': '3.5.30'}, '3.5.33', 'a', False, 'refused', [],
     False, 'unexpected version'),
    ('invalid target', same('3.5.30'), '3.5', 'a', False, 'refused', [], False, 'target version is invalid'),
    ('pre-release target', same('3.5.30'), '3.6.0-rc.1', 'a', False, 'refused', [], False, 'invalid'),
    ('v prefix accepted', same('3.5.30'), 'v3.5.33', None, False, 'patch', ['a', 'b', 'c'], False, None),
    ('unknown leader: name order', same('3.5.30'), '3.5.33', None, False, 'patch', ['a', 'b', 'c'], False, None),
    ('no members', {}, '3.5.33', None, False, 'refused', [], False, 'No member'),
]


@pytest.mark.parametrize('versions,target,leader,auth,action,pending,v2check,problem',
                         [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_plan_upgrade(versions, target, leader, auth, action, pending, v2check, problem):
    plan = u.plan_upgrade(versions, target, leader=leader, auth_enabled=auth)
    assert plan['action'] == action, plan
    assert plan['pending'] == pending
    assert plan['next'] == (pending[0] if pending else None)
    assert plan['v2store_check'] is v2check
    if problem is None:
        assert plan['problems'] == []
    else:
        assert any(problem in p for p in plan['problems']), plan['problems']


def test_floor_message_names_the_floor():
    plan = u.plan_upgrade(same('3.5.26'), '3.6.1')
    assert 'Upgrade to 3.5.32 or later' in plan['problems'][0]


@pytest.mark.parametrize('text,expected', [
    ('3.5.33', (3, 5, 33)), ('v3.4.23', (3, 4, 23)), (' 3.6.0\n', (3, 6, 0)),
])
def test_parse_version(text, expected):
    assert u.parse_version(text) == expected


@pytest.mark.parametrize('text', ['3.5', '3.5.x', '', None, '3.6.0-rc.0', 'etcd 3.5.1'])
def test_parse_version_rejects(text):
    with pytest.raises(ValueError):
        u.parse_version(text)


HASH_CASES = [
    ('equal', {'a': {'hash': 1}, 'b': {'hash': 1}, 'c': {'hash': 1}}, []),
    ('one differs', {'a': {'hash': 1}, 'b': {'hash': 2}, 'c': {'hash': 1}}, ['different data']),
    ('one missing', {'a': {'hash': 1}, 'b': None, 'c': {'hash': 1}}, ['No hashkv from b']),
    ('missing and differing', {'a': {'hash': 1}, 'b': None, 'c': {'hash': 3}}, ['No hashkv from b', 'different']),
]


@pytest.mark.parametrize('hashes,expected', [c[1:] for c in HASH_CASES], ids=[c[0] for c in HASH_CASES])
def test_compare_hashes(hashes, expected):
    problems = u.compare_hashes(hashes)
    assert len(problems) == len(expected)
    for want, got in zip(expected, problems):
        assert want in got
