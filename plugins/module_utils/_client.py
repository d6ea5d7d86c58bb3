# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Typed calls on etcd's v3 JSON gateway (``POST <endpoint>/v3/...``): KV, cluster, maintenance, auth.

Standard library only. Transport (POST, stream, tokens, fail-over, the opener) is ``_transport.Transport``;
errors are ``_errors.EtcdError``. The full API is in docs/core-api.md.

Gateway quirks handled here: int64/uint64 fields arrive as JSON strings; fields equal to zero, false or empty
are omitted; keys and values are base64; with client-certificate auth AND etcd auth enabled the gateway rejects a
client certificate that carries a CommonName (HTTP 400) - use a certificate without CN together with
user/password.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import (
    EtcdError,
    KIND_AUTH,
    KIND_CONFIG,
    KIND_NOT_FOUND,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import (  # noqa: F401  pylint: disable=unused-import
    Transport,
    b64,
    format_id,
    normalize_endpoint,
    parse_id,
    prefix_end,
    to_int,
    unb64,
)

ALARM_TYPES = ('NONE', 'NOSPACE', 'CORRUPT')

# etcd's authpb.Permission.Type; the gateway sends the enum name and omits READ (0)
PERM_TYPES = ('read', 'write', 'readwrite')
_PERM_FROM_GATEWAY = {None: 'read', 0: 'read', 1: 'write', 2: 'readwrite', 'READ': 'read', 'WRITE': 'write',
                      'READWRITE': 'readwrite'}


def _decode_text(data):
    return data.decode('utf-8', 'replace')


def _kv(raw):
    key = unb64(raw.get('key'))
    value = unb64(raw.get('value'))
    return dict(
        key=_decode_text(key), value=_decode_text(value), key_bytes=key, value_bytes=value,
        create_revision=to_int(raw.get('create_revision')), mod_revision=to_int(raw.get('mod_revision')),
        version=to_int(raw.get('version')), lease=to_int(raw.get('lease')),
    )


def _member(raw):
    return dict(
        id=to_int(raw.get('ID')),
        name=raw.get('name') or '',
        peer_urls=list(raw.get('peerURLs') or raw.get('peer_urls') or []),
        client_urls=list(raw.get('clientURLs') or raw.get('client_urls') or []),
        is_learner=bool(raw.get('isLearner') or raw.get('is_learner')),
    )


def _alarms(raw):
    return [dict(member_id=to_int(a.get('memberID')), alarm=a.get('alarm') or 'NONE')
            for a in raw.get('alarms') or []]


def _pick(raw, *names):
    for name in names:
        if name in raw:
            return raw[name]
    return None


def _permission(raw):
    return dict(type=_PERM_FROM_GATEWAY.get(raw.get('permType'), str(raw.get('permType')).lower()),
                key=_decode_text(unb64(raw.get('key'))), range_end=_decode_text(unb64(raw.get('range_end'))))


class EtcdClient(object):
    """Typed etcd calls; see docs/core-api.md. ``opener`` is handed to the ``Transport`` (None: default)."""

    def __init__(self, endpoints, ca_cert=None, client_cert=None, client_key=None, user=None,
                 password=None, timeout=10, validate_certs=True, opener=None):
        self.transport = Transport(endpoints, ca_cert=ca_cert, client_cert=client_cert, client_key=client_key,
                                   user=user, password=password, timeout=timeout, validate_certs=validate_certs,
                                   opener=opener)
        self.endpoints = self.transport.endpoints
        self.timeout = self.transport.timeout
        self.user = self.transport.user

    # generic ------------------------------------------------------------------------------------------

    def call(self, path, body=None, endpoint=None, timeout=None, auth=True, mutating=False):
        return self.transport.call(path, body, endpoint=endpoint, timeout=timeout, auth=auth, mutating=mutating)

    def stream(self, path, body=None, endpoint=None, timeout=None):
        return self.transport.stream(path, body, endpoint=endpoint, timeout=timeout)

    def _one(self, endpoint, path, body, timeout=None, auth=True):
        return self.transport.call_one(normalize_endpoint(endpoint), path, body, timeout=timeout, auth=auth)

    # maintenance ---------------------------------------------------------------------------------------

    def status(self, endpoint, timeout=None):
        endpoint = normalize_endpoint(endpoint)
        # etcd >= 3.5.28 (CVE-2026-33413) answers Status only to an authenticated user when auth is on; older
        # releases serve it to anyone. 'lazy': authenticate when a user is set, but a member without a leader
        # (authentication is a raft request) is still asked without a token
        raw = self._one(endpoint, '/v3/maintenance/status', {}, timeout=timeout, auth='lazy')
        header = raw.get('header') or {}
        member_id = to_int(header.get('member_id'))
        leader = to_int(raw.get('leader'))
        return dict(
            endpoint=endpoint,
            cluster_id=to_int(header.get('cluster_id')),
            member_id=member_id,
            leader_id=leader,
            revision=to_int(header.get('revision')),
            version=raw.get('version') or '',
            db_size=to_int(_pick(raw, 'dbSize', 'db_size')),
            db_size_in_use=to_int(_pick(raw, 'dbSizeInUse', 'db_size_in_use')),
            raft_term=to_int(_pick(raw, 'raftTerm', 'raft_term')),
            raft_index=to_int(_pick(raw, 'raftIndex', 'raft_index')),
            raft_applied_index=to_int(_pick(raw, 'raftAppliedIndex', 'raft_applied_index')),
            is_learner=bool(_pick(raw, 'isLearner', 'is_learner')),
            is_leader=bool(leader) and leader == member_id,
            errors=list(raw.get('errors') or []),
        )

    def health(self, endpoint, timeout=None, serializable=False):
        """``GET /health``. ``serializable=True`` (``/health?serializable=true``, etcd >= 3.5) checks the member
        with a local read: the only health check a learner answers (it refuses linearizable reads)."""
        endpoint = normalize_endpoint(endpoint)
        path = '/health?serializable=true' if serializable else '/health'
        status, data = self.transport.get_json(endpoint, path, timeout=timeout)
        data = data if isinstance(data, dict) else {}
        return dict(endpoint=endpoint, healthy=str(data.get('health')).lower() == 'true',
                    reason=data.get('reason') or ('' if status < 300 else 'HTTP %s' % status))

    def probe(self, endpoint, timeout=None):
        """status() + health() of one endpoint as a dict that never raises (``error`` says what failed). A learner
        is asked the serializable health check; like every member it must also know a leader."""
        item = dict(endpoint=normalize_endpoint(endpoint), healthy=False, error=None, cluster_id=None,
                    member_id=None, leader_id=None, revision=None, version=None, db_size=None,
                    db_size_in_use=None, raft_term=None, raft_index=None, raft_applied_index=None,
                    is_learner=None, is_leader=None, errors=[])
        try:
            item.update(self.status(endpoint, timeout=timeout))
            health = self.health(endpoint, timeout=timeout, serializable=bool(item['is_learner']))
            item['healthy'] = health['healthy'] and not item['errors'] and bool(item['leader_id'])
            if not health['healthy']:
                item['error'] = 'unhealthy: %s' % (health['reason'] or 'no reason given')
            elif item['errors']:
                item['error'] = '; '.join(item['errors'])
            elif not item['leader_id']:
                item['error'] = 'member has no leader'
        except EtcdError as err:
            item['error'] = err.message
        return item

    def endpoint_report(self, timeout=None):
        return [self.probe(ep, timeout=timeout) for ep in self.endpoints]

    def defragment(self, endpoint, timeout=None):
        self._one(endpoint, '/v3/maintenance/defragment', {}, timeout=timeout or max(self.timeout, 60))

    def hash_kv(self, endpoint, revision=0, timeout=None):
        """``/v3/maintenance/hash``. The JSON gateway routes this path to Hash, not HashKV: a hash of the member's
        whole backend as it is now (the revision is not honoured), which differs between healthy members under
        writes. To compare key spaces between members use ``_keyspace.keyspace_digest`` at one revision."""
        body = {'revision': str(int(revision))} if revision else {}
        raw = self._one(endpoint, '/v3/maintenance/hash', body, timeout=timeout)
        header = raw.get('header') or {}
        return dict(hash=to_int(raw.get('hash')), revision=to_int(header.get('revision')),
                    member_id=to_int(header.get('member_id')),
                    compact_revision=to_int(raw.get('compact_revision')))

    hash = hash_kv

    def move_leader(self, target_id, endpoint, timeout=None):
        self._one(endpoint, '/v3/maintenance/transfer-leadership', {'targetID': str(int(target_id))},
                  timeout=timeout)

    def snapshot(self, endpoint, timeout=None):
        """Generator of ``bytes`` chunks: the bbolt db followed by etcd's 32-byte SHA-256 trailer."""
        for item in self.transport.stream('/v3/maintenance/snapshot', {}, endpoint=endpoint,
                                          timeout=timeout or max(self.timeout, 60), binary_field='blob'):
            blob = item.get('blob')
            if blob:
                yield blob

    def alarm_list(self, endpoint=None, timeout=None):
        raw = self.call('/v3/maintenance/alarm', {'action': 'GET'}, endpoint=endpoint, timeout=timeout,
                        auth='lazy')
        return _alarms(raw)

    def alarm_disarm(self, member_id, alarm, timeout=None):
        raw = self.call('/v3/maintenance/alarm',
                        {'action': 'DEACTIVATE', 'memberID': str(int(member_id)), 'alarm': alarm},
                        timeout=timeout, mutating=True)
        return _alarms(raw)

    # cluster ---------------------------------------------------------------------------------------------

    def member_list(self, endpoint=None, linearizable=False, timeout=None):
        body = {'linearizable': True} if linearizable else {}
        raw = self.call('/v3/cluster/member/list', body, endpoint=endpoint, timeout=timeout, auth='lazy')
        header = raw.get('header') or {}
        return dict(cluster_id=to_int(header.get('cluster_id')), member_id=to_int(header.get('member_id')),
                    members=[_member(m) for m in raw.get('members') or []])

    def member_add(self, peer_urls, is_learner=False, timeout=None, endpoint=None):
        body = {'peerURLs': list(peer_urls)}
        if is_learner:
            body['isLearner'] = True
        raw = self.call('/v3/cluster/member/add', body, endpoint=endpoint, timeout=timeout, mutating=True)
        return dict(member=_member(raw.get('member') or {}), members=[_member(m) for m in raw.get('members') or []])

    def member_remove(self, member_id, timeout=None, endpoint=None):
        raw = self.call('/v3/cluster/member/remove', {'ID': str(int(member_id))}, endpoint=endpoint,
                        timeout=timeout, mutating=True)
        return [_member(m) for m in raw.get('members') or []]

    def member_promote(self, member_id, timeout=None, endpoint=None):
        """Send it to the leader (``endpoint``): etcd 3.5 forwards a promotion from a follower without the
        credentials (etcd-io/etcd#14070). ``_membership.promote_learner`` does that."""
        raw = self.call('/v3/cluster/member/promote', {'ID': str(int(member_id))}, endpoint=endpoint,
                        timeout=timeout, mutating=True)
        return [_member(m) for m in raw.get('members') or []]

    def member_update(self, member_id, peer_urls, timeout=None):
        raw = self.call('/v3/cluster/member/update', {'ID': str(int(member_id)), 'peerURLs': list(peer_urls)},
                        timeout=timeout, mutating=True)
        return [_member(m) for m in raw.get('members') or []]

    # keys ------------------------------------------------------------------------------------------------

    def range(self, key, range_end=None, prefix=False, limit=0, revision=0, keys_only=False,
              count_only=False, serializable=False, timeout=None, endpoint=None):
        body = {'key': b64(key)}
        if prefix:
            body['range_end'] = b64(prefix_end(key))
        elif range_end is not None:
            body['range_end'] = b64(range_end)
        if limit:
            body['limit'] = str(int(limit))
        if revision:
            body['revision'] = str(int(revision))
        if keys_only:
            body['keys_only'] = True
        if count_only:
            body['count_only'] = True
        if serializable:
            body['serializable'] = True
        raw = self.call('/v3/kv/range', body, endpoint=endpoint, timeout=timeout)
        header = raw.get('header') or {}
        return dict(revision=to_int(header.get('revision')), count=to_int(raw.get('count')),
                    more=bool(raw.get('more')), kvs=[_kv(kv) for kv in raw.get('kvs') or []])

    def get(self, key, timeout=None):
        res = self.range(key, timeout=timeout)
        return res['kvs'][0] if res['kvs'] else None

    def put(self, key, value, prev_kv=False, timeout=None):
        body = {'key': b64(key), 'value': b64(value)}
        if prev_kv:
            body['prev_kv'] = True
        raw = self.call('/v3/kv/put', body, timeout=timeout, mutating=True)
        prev = raw.get('prev_kv')
        return dict(revision=to_int((raw.get('header') or {}).get('revision')), prev_kv=_kv(prev) if prev else None)

    def delete(self, key, prefix=False, prev_kv=False, timeout=None, range_end=None):
        body = {'key': b64(key)}
        if prefix:
            body['range_end'] = b64(prefix_end(key))
        elif range_end is not None:
            body['range_end'] = b64(range_end)
        if prev_kv:
            body['prev_kv'] = True
        raw = self.call('/v3/kv/deleterange', body, timeout=timeout, mutating=True)
        return dict(revision=to_int((raw.get('header') or {}).get('revision')), deleted=to_int(raw.get('deleted')),
                    prev_kvs=[_kv(kv) for kv in raw.get('prev_kvs') or []])

    def txn(self, compare, success, failure=None, timeout=None):
        """Raw gateway txn; keys in ``compare``/``success``/``failure`` must already be base64 (``b64``)."""
        body = {'compare': compare, 'success': success}
        if failure:
            body['failure'] = failure
        return self.call('/v3/kv/txn', body, timeout=timeout, mutating=True)

    def put_if_unchanged(self, key, value, mod_revision=0, timeout=None):
        """Compare-and-swap: put only if the key is as it was read - ``mod_revision`` of that read, 0 when the key
        did not exist. Returns ``(succeeded, revision)``."""
        if mod_revision:
            compare = [{'key': b64(key), 'target': 'MOD', 'result': 'EQUAL', 'mod_revision': str(int(mod_revision))}]
        else:
            compare = [{'key': b64(key), 'target': 'CREATE', 'result': 'EQUAL', 'create_revision': '0'}]
        raw = self.txn(compare, [{'request_put': {'key': b64(key), 'value': b64(value)}}], timeout=timeout)
        return bool(raw.get('succeeded')), to_int((raw.get('header') or {}).get('revision'))

    def delete_if_unchanged(self, key, mod_revision, timeout=None):
        """Delete the key only if its ``mod_revision`` is still the one read. Returns ``(succeeded, revision)``."""
        compare = [{'key': b64(key), 'target': 'MOD', 'result': 'EQUAL', 'mod_revision': str(int(mod_revision))}]
        raw = self.txn(compare, [{'request_delete_range': {'key': b64(key)}}], timeout=timeout)
        return bool(raw.get('succeeded')), to_int((raw.get('header') or {}).get('revision'))

    def compact(self, revision, physical=False, endpoint=None, timeout=None):
        body = {'revision': str(int(revision))}
        if physical:
            body['physical'] = True
        self.call('/v3/kv/compaction', body, endpoint=endpoint, timeout=timeout or max(self.timeout, 60),
                  mutating=True)

    # auth ------------------------------------------------------------------------------------------------

    def authenticate(self, name, password, endpoint=None, timeout=None):
        """True when ``name``/``password`` authenticate (False on a wrong password or unknown user); raises
        ``EtcdError`` for other failures. With auth disabled etcd cannot check a password: raises
        ``EtcdError(kind='precondition')``. Does not change the client's own credentials."""
        ep = normalize_endpoint(endpoint or self.endpoints[0])
        try:
            self.transport.raw(ep, '/v3/auth/authenticate', {'name': name, 'password': password or ''},
                               timeout=timeout)
        except EtcdError as err:
            if err.kind == KIND_AUTH and 'authentication failed' in (err.server_message or ''):
                return False
            raise
        return True

    def auth_status(self, timeout=None):
        """``{'enabled': bool, 'revision': int or None}``. Without credentials on a cluster with auth on, etcd
        answers "user name is empty": that is reported as enabled."""
        try:
            raw = self.call('/v3/auth/status', {}, timeout=timeout)
        except EtcdError as err:
            if not self.user and err.kind == KIND_AUTH and 'user name is empty' in (err.server_message or ''):
                return dict(enabled=True, revision=None)
            raise
        revision = to_int(_pick(raw, 'authRevision', 'auth_revision'))
        return dict(enabled=bool(raw.get('enabled')), revision=revision)

    def auth_enable(self, timeout=None):
        self.call('/v3/auth/enable', {}, timeout=timeout, mutating=True)
        self.transport.forget_tokens()

    def auth_disable(self, timeout=None):
        self.call('/v3/auth/disable', {}, timeout=timeout, mutating=True)
        self.transport.forget_tokens()

    def user_list(self, timeout=None):
        return sorted(self.call('/v3/auth/user/list', {}, timeout=timeout).get('users') or [])

    def _get_or_none(self, path, body, timeout):
        try:
            return self.call(path, body, timeout=timeout)
        except EtcdError as err:
            if err.kind == KIND_NOT_FOUND:
                return None
            raise

    def user_get(self, name, timeout=None):
        """``{'name', 'roles': [...]}`` or None when the user does not exist."""
        raw = self._get_or_none('/v3/auth/user/get', {'name': name}, timeout)
        return None if raw is None else dict(name=name, roles=sorted(raw.get('roles') or []))

    def user_add(self, name, password=None, no_password=False, timeout=None):
        body = {'name': name, 'password': password or ''}
        if no_password:
            body['options'] = {'no_password': True}
        self.call('/v3/auth/user/add', body, timeout=timeout, mutating=True)

    def user_delete(self, name, timeout=None):
        self.call('/v3/auth/user/delete', {'name': name}, timeout=timeout, mutating=True)

    def user_change_password(self, name, password, timeout=None):
        self.call('/v3/auth/user/changepw', {'name': name, 'password': password}, timeout=timeout, mutating=True)

    def user_grant_role(self, name, role, timeout=None):
        self.call('/v3/auth/user/grant', {'user': name, 'role': role}, timeout=timeout, mutating=True)

    def user_revoke_role(self, name, role, timeout=None):
        self.call('/v3/auth/user/revoke', {'name': name, 'role': role}, timeout=timeout, mutating=True)

    def role_list(self, timeout=None):
        return sorted(self.call('/v3/auth/role/list', {}, timeout=timeout).get('roles') or [])

    def role_get(self, name, timeout=None):
        """``{'name', 'permissions': [{'type': 'read'|'write'|'readwrite', 'key': str, 'range_end': str}]}`` or
        None when the role does not exist (``range_end`` '' = the single key, see ``prefix_end``)."""
        raw = self._get_or_none('/v3/auth/role/get', {'role': name}, timeout)
        return None if raw is None else dict(name=name, permissions=[_permission(p) for p in raw.get('perm') or []])

    def role_add(self, name, timeout=None):
        self.call('/v3/auth/role/add', {'name': name}, timeout=timeout, mutating=True)

    def role_delete(self, name, timeout=None):
        self.call('/v3/auth/role/delete', {'role': name}, timeout=timeout, mutating=True)

    def role_grant_permission(self, name, perm_type, key, range_end='', timeout=None):
        if perm_type not in PERM_TYPES:
            raise EtcdError('permission type must be one of %s, got %r' % (', '.join(PERM_TYPES), perm_type),
                            kind=KIND_CONFIG)
        perm = {'permType': perm_type.upper(), 'key': b64(key)}
        if range_end:
            perm['range_end'] = b64(range_end)
        self.call('/v3/auth/role/grant', {'name': name, 'perm': perm}, timeout=timeout, mutating=True)

    def role_revoke_permission(self, name, key, range_end='', timeout=None):
        body = {'role': name, 'key': b64(key)}
        if range_end:
            body['range_end'] = b64(range_end)
        self.call('/v3/auth/role/revoke', body, timeout=timeout, mutating=True)
