# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""The key space of a cluster at one revision, as a digest (standard library only).

etcd's HashKV is served over gRPC only: the JSON gateway's ``/v3/maintenance/hash`` route answers with Hash
(a hash of the whole backend, revision ignored), and a restored snapshot has a new membership in its backend,
so that hash always differs between a restored copy and the live cluster. The restore drill therefore compares
this digest instead: SHA-256 over every key at ``revision`` (key, create/mod revision, version, lease, value),
read with the range API in key order on both sides. Equal digests mean equal key spaces at that revision.

A revision older than the member's compaction cannot be read any more: ``keyspace_digest`` raises
``CompactedError`` then (the caller reports "not comparable: compacted").
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import hashlib
import struct

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError

ALL_KEYS = b'\x00'
PAGE = 500


class CompactedError(EtcdError):
    """The revision asked for is older than the member's compaction."""


def is_compacted(err):
    """Does this EtcdError say the revision was compacted?"""
    text = ' '.join(str(x) for x in (getattr(err, 'server_message', None), getattr(err, 'message', None)) if x)
    return 'compacted' in text.lower()


def _field(digest, data):
    digest.update(struct.pack('>Q', len(data)))
    digest.update(data)


def digest_kvs(digest, kvs):
    """Feed range results (kvs of ``EtcdClient.range``) into a running SHA-256; returns the number of keys."""
    count = 0
    for kv in kvs:
        _field(digest, kv['key_bytes'])
        for name in ('create_revision', 'mod_revision', 'version', 'lease'):
            digest.update(struct.pack('>q', int(kv.get(name) or 0)))
        _field(digest, kv['value_bytes'])
        count += 1
    return count


def keyspace_digest(client, revision, endpoint=None, page=PAGE, serializable=False):
    """``{'revision', 'count', 'sha256'}`` of every key at ``revision`` (> 0), read page by page from
    ``endpoint`` (None: the client's fail-over). Raises CompactedError when the revision was compacted, other
    EtcdErrors as the client raised them."""
    revision = int(revision)
    digest = hashlib.sha256()
    start = ALL_KEYS
    count = 0
    while True:
        try:
            res = client.range(start, range_end=ALL_KEYS, limit=page, revision=revision,
                               serializable=serializable, endpoint=endpoint)
        except EtcdError as exc:
            if is_compacted(exc):
                raise CompactedError('revision %d of %s is compacted: %s' % (revision, endpoint or 'the cluster', exc),
                                     kind=exc.kind, endpoint=exc.endpoint, code=exc.code, status=exc.status,
                                     server_message=exc.server_message)
            raise
        kvs = res['kvs']
        count += digest_kvs(digest, kvs)
        if not res.get('more') or not kvs:
            break
        start = kvs[-1]['key_bytes'] + b'\x00'
    return dict(revision=revision, count=count, sha256=digest.hexdigest())


def member_digests(client, endpoints, page=PAGE):
    """Every member's own key space at one revision: ``{'revision', 'digests': {endpoint: {'count', 'sha256'}}}``.

    The revision is the lowest one the members report, so every member has applied it; each digest is read from
    that member itself (serializable ranges). Equal digests mean equal key spaces (meant for a quiet cluster:
    with writes running, a member's compaction may pass the revision). Raises EtcdError as the client does."""
    revision = min(int(client.status(endpoint)['revision']) for endpoint in endpoints)
    digests = {}
    for endpoint in endpoints:
        digest = keyspace_digest(client, revision, endpoint=endpoint, page=page, serializable=True)
        digests[endpoint] = dict(count=digest['count'], sha256=digest['sha256'])
    return dict(revision=revision, digests=digests)


def key_count(client, revision=0, endpoint=None):
    """Number of keys at ``revision`` (0: now). Raises CompactedError for a compacted revision."""
    try:
        res = client.range(ALL_KEYS, range_end=ALL_KEYS, count_only=True, revision=revision, endpoint=endpoint)
        return int(res['count'])
    except EtcdError as exc:
        if is_compacted(exc):
            raise CompactedError('revision %d is compacted: %s' % (revision, exc), kind=exc.kind,
                                 endpoint=exc.endpoint, code=exc.code, status=exc.status,
                                 server_message=exc.server_message)
        raise
