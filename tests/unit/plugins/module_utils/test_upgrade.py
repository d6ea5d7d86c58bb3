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


class _FakeKV(object):
    """Per-endpoint key spaces for hash_round: {endpoint: {'rev': applied revision, 'kvs': [kv, ...]}}."""

    def __init__(self, stores):
        self.stores = stores
        self.calls = []

    def range(self, key, range_end=None, limit=0, revision=0, serializable=False, endpoint=None, **kw):
        from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
        self.calls.append((endpoint, key, revision, serializable))
        store = self.stores[endpoint]
        if store is None:
            raise EtcdError('connection refused', endpoint=endpoint)
        if revision > store['rev']:
            raise EtcdError('etcdserver: mvcc: required revision is a future revision', endpoint=endpoint)
        kvs = sorted((kv for kv in store['kvs'] if kv['key_bytes'] >= key and kv['mod_revision'] <= revision),
                     key=lambda kv: kv['key_bytes'])
        page = kvs[:limit] if limit else kvs
        return dict(kvs=page, more=len(kvs) > len(page), count=len(kvs), revision=store['rev'])


def _kvs(n, value=b'v', lease=0):
    return [dict(key_bytes=b'/k/%04d' % i, value_bytes=value, create_revision=i + 2, mod_revision=i + 2, version=1,
                 lease=lease) for i in range(n)]


def _members():
    return [dict(name=n, id=i + 1, client_urls=['https://10.0.0.%d:2379' % (i + 1)]) for i, n in enumerate(THREE)]


def _status(revs):
    return dict((i + 1, {'revision': r}) for i, r in enumerate(revs))


HASH_ROUND_CASES = [
    # (id, per-member stores as (applied revision, kvs), expected problem substrings, expected error substring)
    ('equal key spaces (more than one page)', [(1300, _kvs(1200))] * 3, [], None),
    ('a value differs', [(1300, _kvs(1200)), (1300, _kvs(1200, value=b'x')), (1300, _kvs(1200))],
     ['different data'], None),
    ('a lease differs', [(1300, _kvs(10)), (1300, _kvs(10)), (1300, _kvs(10, lease=7))], ['different data'], None),
    ('a member lacks a key', [(1300, _kvs(10)), (1300, _kvs(9)), (1300, _kvs(10))], ['different data'], None),
    ('a member behind the revision answers later', [(1300, _kvs(10)), (1200, _kvs(10)), (1300, _kvs(10))],
     ['No hashkv from b'], 'future revision'),
    ('a member down', [(1300, _kvs(10)), None, (1300, _kvs(10))], ['No hashkv from b'], 'connection refused'),
]


@pytest.mark.parametrize('stores,problems,error', [c[1:] for c in HASH_ROUND_CASES],
                         ids=[c[0] for c in HASH_ROUND_CASES])
def test_hash_round_compares_key_spaces_at_one_revision(stores, problems, error):
    members = _members()
    client = _FakeKV(dict((m['client_urls'][0], None if s is None else {'rev': s[0], 'kvs': s[1]})
                          for m, s in zip(members, stores)))
    revs = [s[0] if s else 0 for s in stores]
    hashes, revision, errors = u.hash_round(client, members, _status(revs))
    assert revision == max(revs)
    # every read was a serializable range of one member at that one revision
    assert set((c[2], c[3]) for c in client.calls) == set([(revision, True)])
    got = u.compare_hashes(hashes)
    assert len(got) == len(problems), got
    for want, line in zip(problems, got):
        assert want in line
    if error is None:
        assert errors == []
        assert [hashes[m['name']]['count'] for m in members] == [len(s[1]) for s in stores]
    else:
        assert any(error in e for e in errors), errors


def test_hash_round_without_a_revision_asks_nobody():
    client = _FakeKV({})
    hashes, revision, errors = u.hash_round(client, _members(), {1: None, 2: {}})
    assert revision == 0 and client.calls == [] and set(hashes.values()) == set([None])
    assert errors == ['no member reported a revision']


AUTH_STATUS_SAFE_CASES = [
    ('all 3.5', same('3.5.1'), True),
    ('3.5 and 3.6', {'a': '3.5.33', 'b': '3.6.5', 'c': '3.6.5'}, True),
    ('mixed 3.4/3.5 (a 3.4 member would panic on the entry)', {'a': '3.5.30', 'b': '3.4.23', 'c': '3.4.23'}, False),
    ('all 3.4', same('3.4.23'), False),
    ('a version unknown', {'a': '3.5.30', 'b': None, 'c': '3.5.30'}, False),
    ('garbage', {'a': '3.5.30', 'b': 'x'}, False),
    ('no versions', {}, False),
]


@pytest.mark.parametrize('versions,safe', [c[1:] for c in AUTH_STATUS_SAFE_CASES],
                         ids=[c[0] for c in AUTH_STATUS_SAFE_CASES])
def test_auth_status_safe(versions, safe):
    assert u.auth_status_safe(versions) is safe


class _FakeAuthClient(object):
    """Records which requests auth_enabled sends; ``enabled`` is the cluster's auth state."""

    def __init__(self, enabled, user=None):
        from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError, KIND_AUTH
        self.enabled, self.user, self.sent = enabled, user, []
        self.endpoints = ['https://10.0.0.1:2379']
        self._err = lambda msg: EtcdError(msg, kind=KIND_AUTH, server_message=msg)
        outer = self

        class _T(object):
            def authenticate(self, endpoint):
                outer.sent.append('authenticate')
                return 'token' if outer.enabled else ''
        self.transport = _T()

    def auth_status(self):
        self.sent.append('auth_status')
        return {'enabled': self.enabled}

    def user_list(self):
        self.sent.append('user_list')
        if self.enabled:
            raise self._err('etcdserver: user name is empty')
        return []


AUTH_ENABLED_CASES = [
    # (id, versions, auth on, user, expected request)
    ('3.5 cluster asks auth status', same('3.5.1'), True, 'root', 'auth_status'),
    ('3.5 cluster, auth off', same('3.5.30'), False, None, 'auth_status'),
    ('mixed 3.4/3.5 never sends auth status (user)', {'a': '3.5.30', 'b': '3.4.23', 'c': '3.4.23'}, False, 'root',
     'authenticate'),
    ('mixed 3.4/3.5 never sends auth status (no user)', {'a': '3.5.30', 'b': '3.4.23', 'c': '3.4.23'}, False, None,
     'user_list'),
    ('3.4 with auth on, no user', same('3.4.23'), True, None, 'user_list'),
    ('versions not given: the safe way', None, False, None, 'user_list'),
]


@pytest.mark.parametrize('versions,enabled,user,request_', [c[1:] for c in AUTH_ENABLED_CASES],
                         ids=[c[0] for c in AUTH_ENABLED_CASES])
def test_auth_enabled_sends_only_requests_every_member_applies(versions, enabled, user, request_):
    client = _FakeAuthClient(enabled, user)
    assert u.auth_enabled(client, versions) is enabled
    assert client.sent == [request_]
