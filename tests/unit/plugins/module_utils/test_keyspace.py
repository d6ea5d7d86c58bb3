# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""_keyspace: the key-space digest read page by page, and compaction reported as CompactedError."""

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._keyspace import (
    CompactedError, is_compacted, key_count, keyspace_digest, member_digests,
)


def kv(key, value, rev):
    return dict(key_bytes=key, value_bytes=value, create_revision=rev, mod_revision=rev, version=1, lease=0)


class FakeClient(object):
    """range() over a sorted list of kvs with limit/more like etcd; raises for revisions below ``compacted``."""

    def __init__(self, kvs, compacted=0):
        self.kvs = sorted(kvs, key=lambda k: k['key_bytes'])
        self.compacted = compacted
        self.calls = []

    def range(self, key, range_end=None, limit=0, revision=0, count_only=False, serializable=False, endpoint=None):
        self.calls.append(dict(key=key, limit=limit, revision=revision))
        if revision and revision <= self.compacted:
            raise EtcdError('etcdserver: mvcc: required revision has been compacted', kind='invalid',
                            server_message='etcdserver: mvcc: required revision has been compacted')
        rows = [k for k in self.kvs if k['key_bytes'] >= key]
        if count_only:
            return dict(revision=revision, count=len(rows), more=False, kvs=[])
        page = rows[:limit] if limit else rows
        return dict(revision=revision, count=len(rows), more=len(rows) > len(page), kvs=page)


KVS = [kv(b'/a%03d' % i, b'v%d' % i, i + 2) for i in range(7)]


@pytest.mark.parametrize('page', [1, 2, 3, 7, 500])
def test_digest_does_not_depend_on_the_page_size(page):
    whole = keyspace_digest(FakeClient(KVS), 10, page=500)
    client = FakeClient(KVS)
    paged = keyspace_digest(client, 10, page=page)
    assert paged == whole and paged['count'] == 7 and paged['revision'] == 10
    assert len(client.calls) == -(-7 // page)  # pages continue after the last key read
    assert all(c['revision'] == 10 for c in client.calls)


@pytest.mark.parametrize('change', [
    lambda kvs: kvs[:-1],                                               # a key missing
    lambda kvs: kvs[:3] + [dict(kvs[3], value_bytes=b'other')] + kvs[4:],  # a value
    lambda kvs: kvs[:3] + [dict(kvs[3], mod_revision=99)] + kvs[4:],     # a revision
    lambda kvs: kvs[:3] + [dict(kvs[3], lease=5)] + kvs[4:],             # a lease
])
def test_digest_sees_every_difference(change):
    assert keyspace_digest(FakeClient(change(list(KVS))), 10)['sha256'] != keyspace_digest(FakeClient(KVS), 10)['sha256']


def test_compacted_revision():
    with pytest.raises(CompactedError):
        keyspace_digest(FakeClient(KVS, compacted=20), 10)
    with pytest.raises(CompactedError):
        key_count(FakeClient(KVS, compacted=20), 10)
    assert key_count(FakeClient(KVS), 10) == 7
    assert is_compacted(EtcdError('x', server_message='mvcc: required revision has been compacted'))
    assert not is_compacted(EtcdError('connection refused', kind='unreachable'))


def test_other_errors_pass_through():
    class Broken(FakeClient):
        def range(self, *args, **kwargs):
            raise EtcdError('no leader', kind='no_leader')
    with pytest.raises(EtcdError) as info:
        keyspace_digest(Broken(KVS), 10)
    assert not isinstance(info.value, CompactedError)


class Members(object):
    """Members as endpoints: each answers status() with its revision and range() from its own kvs."""

    def __init__(self, members):
        self.members = members  # {endpoint: (revision, kvs)}
        self.asked = []

    def status(self, endpoint):
        return dict(revision=self.members[endpoint][0])

    def range(self, key, range_end=None, limit=0, revision=0, count_only=False, serializable=False, endpoint=None):
        self.asked.append((endpoint, revision, serializable))
        return FakeClient(self.members[endpoint][1]).range(key, range_end, limit, revision, count_only)


@pytest.mark.parametrize('second,equal', [(KVS, True), (KVS[:-1], False),
                                          (KVS[:-1] + [kv(b'/a006', b'other', 8)], False)])
def test_member_digests_at_the_lowest_revision_from_each_member(second, equal):
    members = Members({'https://m1:2379': (12, KVS), 'https://m2:2379': (9, second)})
    out = member_digests(members, ['https://m1:2379', 'https://m2:2379'])
    assert out['revision'] == 9
    assert sorted(set(members.asked)) == [('https://m1:2379', 9, True), ('https://m2:2379', 9, True)]
    assert (out['digests']['https://m1:2379'] == out['digests']['https://m2:2379']) is equal
    assert out['digests']['https://m1:2379']['count'] == 7
