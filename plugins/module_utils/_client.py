# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Dependency-free client for etcd's v3 JSON gateway (``POST <endpoint>/v3/...``).

Only the Python standard library and ``ansible.module_utils.urls.open_url`` are used, so the
modules built on it run on any target that has Python.

Public API (stable for the modules of this collection)
======================================================

``EtcdError(Exception)``
    Every failure of this client. Attributes: ``kind`` (one of the ``KIND_*`` constants below),
    ``message`` (a complete, human readable sentence with a hint how to fix it - use ``str(err)``),
    ``endpoint`` (URL or None), ``code`` (gRPC code reported by etcd or None), ``status`` (HTTP status or
    None), ``server_message`` (etcd's own message or None), ``errors`` (for ``KIND_ALL_FAILED``: a list of
    the per-endpoint ``EtcdError``).
    Kinds: ``config`` (bad option, unreadable file), ``unreachable`` (connection refused, DNS, timeout while
    connecting), ``tls`` (handshake or certificate problem), ``auth`` (wrong user/password, auth required,
    token rejected twice), ``permission`` (authenticated user lacks the permission), ``no_leader``,
    ``timeout`` (etcd or the socket timed out), ``unavailable`` (other gRPC UNAVAILABLE),
    ``not_found``, ``invalid`` (etcd rejected the request as invalid), ``precondition`` (gRPC
    FAILED_PRECONDITION, e.g. promoting a learner that is not in sync), ``exists``, ``protocol`` (the
    answer was not the expected JSON), ``server`` (anything else etcd reported), ``all_failed`` (every
    endpoint failed; see ``errors``).

``EtcdClient(endpoints, ca_cert=None, client_cert=None, client_key=None, user=None, password=None,
timeout=10, validate_certs=True)``
    ``endpoints``: list of URLs (``https://10.0.0.1:2379``); ``host:port`` without a scheme means https.
    Files are checked when the client is created (``EtcdError(kind='config')``). Nothing is sent before
    the first call. With ``user``/``password`` set the client authenticates (``/v3/auth/authenticate``)
    per endpoint the first time a call needs it and sends the token in the ``Authorization`` header; a
    rejected token is renewed once.

    Attributes: ``endpoints`` (normalized list), ``timeout``.

    Generic calls:

    - ``call(path, body=None, endpoint=None, timeout=None, auth=True)`` -> dict.
      ``path`` like ``'/v3/kv/range'``. With ``endpoint=None`` the endpoints are tried in order and the
      next one is used when one is unreachable, has no leader, times out or fails TLS (other errors are the
      same on every member and are raised at once). ``auth=False`` never authenticates (only calls that
      etcd serves without a user); ``auth=True`` authenticates if a user is configured;
      ``auth='lazy'`` (status, member_list, alarm_list) authenticates too, but when authentication cannot work
      (no leader, timeout) sends the request without a token, so reads still work on a cluster without quorum.
      ``mutating=True`` (used by every changing call of this client) only fails over when the request
      certainly did not reach etcd (connection refused, TLS, no leader), never after a timeout.
    - ``stream(path, body=None, endpoint=..., timeout=None)`` -> generator of the ``result`` dicts of a
      server-streaming call (newline-delimited JSON).

    Per-endpoint maintenance (``endpoint`` is one of ``client.endpoints`` or any URL):

    - ``status(endpoint)`` -> dict: ``endpoint, cluster_id, member_id, leader_id`` (ints, 0 = no leader),
      ``version, db_size, db_size_in_use, raft_term, raft_index, raft_applied_index, revision,
      is_learner, is_leader, errors`` (list of str). Authenticated like ``member_list`` (``auth='lazy'``):
      etcd >= 3.5.28 requires a user for it when auth is on.
    - ``health(endpoint)`` -> ``{'endpoint', 'healthy': bool, 'reason': str}`` from ``GET /health``
      (never raises for an unhealthy member; raises ``EtcdError`` only when the endpoint cannot be asked).
    - ``probe(endpoint)`` -> ``status()`` fields (None when unknown) plus ``healthy`` (bool: /health ok, no
      status errors, has a leader) and ``error`` (str or None). Never raises.
    - ``endpoint_report()`` -> ``[probe(ep) for ep in endpoints]``.
    - ``defragment(endpoint, timeout=None)`` -> None. Needs the root role.
    - ``hash(endpoint, revision=0)`` -> ``{'hash': int, 'revision': int, 'member_id': int,
      'compact_revision': int}`` (``/v3/maintenance/hash``; the 3.5 gateway does not route HashKV, so
      ``hash_kv`` is the same call).
    - ``move_leader(target_id, endpoint)`` -> None; must be sent to the current leader.
    - ``snapshot(endpoint, timeout=None)`` -> generator of ``bytes`` chunks. The concatenated stream is the
      bbolt database followed by a 32-byte SHA-256 trailer of everything before it (etcd >= 3.3).
      Consume it completely (or ``close()`` it) so the connection is released.

    Cluster:

    - ``member_list(endpoint=None, linearizable=False)`` -> ``{'cluster_id': int, 'member_id': int,
      'members': [member, ...]}``; member = ``{'id': int, 'name': str, 'peer_urls': [..],
      'client_urls': [..], 'is_learner': bool}`` (an added but unstarted member has ``name == ''``).
    - ``member_add(peer_urls, is_learner=False)`` -> ``{'member': member, 'members': [...]}``.
    - ``member_remove(member_id)``, ``member_promote(member_id, endpoint=None)`` -> list of members after the
      change. Send a promotion to the leader (``endpoint``): only the leader knows whether the learner is in
      sync, and etcd 3.5 forwards a promotion from a follower to the leader without the user's credentials, so
      with authentication enabled it fails there after the request timeout (etcd-io/etcd#14070).
    - ``member_update(member_id, peer_urls)`` -> list of members.
    - ``alarm_list(endpoint=None)`` -> list of ``{'member_id': int, 'alarm': 'NOSPACE'|'CORRUPT'|...}``.
    - ``alarm_disarm(member_id, alarm)`` -> list of alarms that were deactivated.

    Keys (``key``/``value`` may be ``str`` (UTF-8) or ``bytes``):

    - ``range(key, range_end=None, prefix=False, limit=0, revision=0, keys_only=False,
      count_only=False, serializable=False)`` -> ``{'revision': int, 'count': int, 'more': bool,
      'kvs': [kv, ...]}``; kv = ``{'key': str, 'value': str, 'key_bytes': bytes, 'value_bytes': bytes,
      'create_revision', 'mod_revision', 'version', 'lease'}`` (ints; text decoded with
      ``errors='replace'``; drop the ``*_bytes`` fields before returning a kv from a module - bytes are not JSON).
    - ``get(key)`` -> kv dict or None.
    - ``put(key, value, prev_kv=False)`` -> ``{'revision': int, 'prev_kv': kv or None}``.
    - ``delete(key, prefix=False, prev_kv=False)`` -> ``{'revision': int, 'deleted': int, 'prev_kvs': [...]}``.
    - ``txn(compare, success, failure=None)`` -> raw gateway answer (``succeeded`` may be absent = False);
      keys in the raw request must already be base64 (use ``b64(...)``).
    - ``compact(revision, physical=False, endpoint=None)`` -> None.

Helpers: ``to_int(value, default=0)`` (the gateway sends int64 as strings and omits zero values),
``b64(data)``, ``unb64(text)``, ``prefix_end(key)``, ``format_id(int)`` (16-digit hex as etcdctl prints
it), ``parse_id(text)`` (accepts hex or decimal).

Gateway quirks handled here: int64/uint64 fields arrive as JSON strings; fields equal to zero, false or
empty are omitted; keys and values are base64; errors arrive as ``{"error", "code", "message"}`` with an
HTTP status derived from the gRPC code; with client-certificate auth AND etcd auth enabled the gateway
rejects a client certificate that carries a CommonName (HTTP 400) - use a certificate without CN together
with user/password.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import base64
import json
import os
import socket
import ssl

from http.client import HTTPException
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

KIND_CONFIG = 'config'
KIND_UNREACHABLE = 'unreachable'
KIND_TLS = 'tls'
KIND_AUTH = 'auth'
KIND_PERMISSION = 'permission'
KIND_NO_LEADER = 'no_leader'
KIND_TIMEOUT = 'timeout'
KIND_UNAVAILABLE = 'unavailable'
KIND_NOT_FOUND = 'not_found'
KIND_INVALID = 'invalid'
KIND_PRECONDITION = 'precondition'
KIND_EXISTS = 'exists'
KIND_PROTOCOL = 'protocol'
KIND_SERVER = 'server'
KIND_ALL_FAILED = 'all_failed'

# errors after which another endpoint may answer
FAILOVER_KINDS = frozenset([KIND_UNREACHABLE, KIND_TLS, KIND_NO_LEADER, KIND_TIMEOUT, KIND_UNAVAILABLE,
                            KIND_PROTOCOL])
# a change is only retried elsewhere when it certainly did not reach etcd
MUTATING_FAILOVER_KINDS = frozenset([KIND_UNREACHABLE, KIND_TLS, KIND_NO_LEADER])

# gRPC status codes
_GRPC_NAMES = {
    0: 'OK', 1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND',
    6: 'ALREADY_EXISTS', 7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED', 9: 'FAILED_PRECONDITION',
    10: 'ABORTED', 11: 'OUT_OF_RANGE', 12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE',
    15: 'DATA_LOSS', 16: 'UNAUTHENTICATED',
}

ALARM_TYPES = ('NONE', 'NOSPACE', 'CORRUPT')


class EtcdError(Exception):
    """A failed etcd call, with a message meant for humans (see module docstring)."""

    def __init__(self, message, kind=KIND_SERVER, endpoint=None, code=None, status=None,
                 server_message=None, errors=None):
        super(EtcdError, self).__init__(message)
        self.message = message
        self.kind = kind
        self.endpoint = endpoint
        self.code = code
        self.status = status
        self.server_message = server_message
        self.errors = errors or []

    def __str__(self):
        return self.message

    def to_dict(self):
        return dict(kind=self.kind, endpoint=self.endpoint, code=self.code, status=self.status,
                    message=self.message, server_message=self.server_message)


# ----------------------------------------------------------------------------------------------- helpers

def to_int(value, default=0):
    """Gateway int64/uint64 values are strings, and zero values are omitted."""
    if value is None or value == '':
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def to_bytes(data):
    if data is None:
        return b''
    if isinstance(data, bytes):
        return data
    return str(data).encode('utf-8')


def b64(data):
    """Encode str (UTF-8) or bytes for the gateway."""
    return base64.b64encode(to_bytes(data)).decode('ascii')


def unb64(text):
    if not text:
        return b''
    return base64.b64decode(text)


def prefix_end(key):
    """range_end that selects every key starting with ``key`` (bytes)."""
    key = bytearray(to_bytes(key))
    for i in range(len(key) - 1, -1, -1):
        if key[i] < 0xff:
            key[i] += 1
            return bytes(key[:i + 1])
    return b'\x00'  # every key


def format_id(member_id):
    """Member/cluster ids as etcdctl prints them (16 hex digits)."""
    if member_id is None:
        return None
    return '%016x' % int(member_id)


def parse_id(text):
    """Accept an id as int, 16-digit hex (etcdctl) or decimal string (gateway)."""
    if isinstance(text, int):
        return text
    text = str(text).strip().lower()
    if text.startswith('0x'):
        return int(text[2:], 16)
    if len(text) == 16 or any(c in 'abcdef' for c in text):
        return int(text, 16)
    return int(text)


def normalize_endpoint(endpoint):
    ep = str(endpoint).strip()
    if not ep:
        raise EtcdError('An empty string is not an etcd endpoint; give URLs like https://10.0.0.1:2379.',
                        kind=KIND_CONFIG)
    if '://' not in ep:
        ep = 'https://' + ep
    scheme = ep.split('://', 1)[0].lower()
    if scheme not in ('http', 'https'):
        raise EtcdError('Endpoint %r: only http:// and https:// endpoints are supported by the JSON gateway '
                        '(unix sockets are not).' % endpoint, kind=KIND_CONFIG)
    return ep.rstrip('/')


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


def _pick(raw, *names):
    for name in names:
        if name in raw:
            return raw[name]
    return None


def _classify(code, message, status=None):
    """Map a gateway error to (kind, hint)."""
    msg = (message or '').lower()
    if 'no leader' in msg:
        return KIND_NO_LEADER, ('The member has no leader: the cluster has probably lost quorum or is '
                                'electing; check the other members.')
    if 'authentication failed' in msg or 'invalid user id or password' in msg:
        return KIND_AUTH, 'Check the user and password options.'
    if 'user name is empty' in msg or 'user name not found' in msg:
        return KIND_AUTH, ('Authentication is enabled on this cluster: set the user and password options '
                           '(or ETCDCTL_USER/ETCDCTL_PASSWORD).')
    if 'invalid auth token' in msg or 'token' in msg and code == 16:
        return KIND_AUTH, 'The authentication token was rejected twice; check the user and password options.'
    if 'root user does not have root role' in msg:
        return KIND_AUTH, 'Grant the root role to the root user: etcdctl user grant-role root root.'
    if code == 16:
        return KIND_AUTH, 'Check the user and password options.'
    if code == 7 or 'permission denied' in msg:
        return KIND_PERMISSION, ('The user is authenticated but lacks the permission for this operation; '
                                 'use a user with the needed role (maintenance and membership need root).')
    if 'timed out' in msg or code == 4:
        return KIND_TIMEOUT, 'etcd did not answer in time; the cluster may be overloaded or without quorum.'
    if code == 14:
        return KIND_UNAVAILABLE, 'The member is not available; check its health and logs.'
    if code == 5:
        return KIND_NOT_FOUND, ''
    if code == 6:
        return KIND_EXISTS, ''
    if code == 9:
        return KIND_PRECONDITION, ''
    if code in (3, 11):
        return KIND_INVALID, ''
    return KIND_SERVER, ''


def _reason_text(reason):
    if isinstance(reason, BaseException):
        text = str(reason) or reason.__class__.__name__
        return text
    return str(reason)


def _is_tls_error(exc):
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return True
    name = exc.__class__.__name__
    return 'SSL' in name or 'Certificate' in name


# -------------------------------------------------------------------------------------------------- client

class EtcdClient(object):
    """See the module docstring."""

    def __init__(self, endpoints, ca_cert=None, client_cert=None, client_key=None, user=None,
                 password=None, timeout=10, validate_certs=True):
        if isinstance(endpoints, str):
            endpoints = endpoints.split(',')
        endpoints = [e for e in (endpoints or []) if e is not None and str(e).strip()]
        if not endpoints:
            raise EtcdError('No etcd endpoint given: set endpoints (or ETCDCTL_ENDPOINTS).', kind=KIND_CONFIG)
        self.endpoints = []
        for ep in endpoints:
            ep = normalize_endpoint(ep)
            if ep not in self.endpoints:
                self.endpoints.append(ep)
        for opt, path in (('ca_cert', ca_cert), ('client_cert', client_cert), ('client_key', client_key)):
            if path and not os.access(path, os.R_OK):
                raise EtcdError('%s: the file %s does not exist or is not readable.' % (opt, path),
                                kind=KIND_CONFIG)
        if bool(client_cert) != bool(client_key):
            raise EtcdError('client_cert and client_key must be given together.', kind=KIND_CONFIG)
        if bool(user) != bool(password is not None and password != '') and user:
            raise EtcdError('user is set but password is empty; give both user and password.',
                            kind=KIND_CONFIG)
        if password and not user:
            raise EtcdError('password is set but user is not; give both user and password.', kind=KIND_CONFIG)
        try:
            self.timeout = float(timeout) if timeout else 10.0
        except (TypeError, ValueError):
            raise EtcdError('timeout must be a number of seconds, got %r.' % (timeout,), kind=KIND_CONFIG)
        self.ca_cert = ca_cert or None
        self.client_cert = client_cert or None
        self.client_key = client_key or None
        self.user = user or None
        self.password = password
        self.validate_certs = bool(validate_certs)
        self._tokens = {}
        self._auth_unavailable = set()

    # ----------------------------------------------------------------------------------------- transport

    def _open(self, url, data=None, headers=None, method='POST', timeout=None):
        hdrs = {'Content-Type': 'application/json', 'Accept': 'application/json'}
        hdrs.update(headers or {})
        kwargs = dict(
            data=data, headers=hdrs, method=method, timeout=timeout or self.timeout,
            validate_certs=self.validate_certs, use_proxy=False, follow_redirects='none',
            client_cert=self.client_cert, client_key=self.client_key, ca_path=self.ca_cert,
            http_agent='etcdkit.etcd',
        )
        try:
            return open_url(url, use_netrc=False, **kwargs)
        except TypeError as exc:  # pragma: no cover - ansible-core without use_netrc
            if 'use_netrc' not in str(exc):
                raise
            return open_url(url, **kwargs)

    def _transport_error(self, exc, endpoint):
        """Turn a non-HTTP exception into EtcdError."""
        reason = getattr(exc, 'reason', exc) if isinstance(exc, URLError) else exc
        text = _reason_text(reason)
        if _is_tls_error(reason) or _is_tls_error(exc) or 'certificate' in text.lower() or 'ssl' in text.lower():
            hint = ('Check ca_cert (the CA that signed the server certificate), that the endpoint address is in '
                    'the server certificate, and client_cert/client_key when the cluster requires client '
                    'certificates.')
            if 'wrong_version_number' in text.lower() or 'wrong version number' in text.lower():
                hint = 'The endpoint does not speak TLS; use an http:// endpoint or enable TLS on etcd.'
            return EtcdError('TLS error talking to %s: %s. %s' % (endpoint, text, hint), kind=KIND_TLS,
                             endpoint=endpoint)
        if isinstance(reason, (socket.timeout,)) or 'timed out' in text.lower():
            return EtcdError('Timed out after %ss talking to %s. Is the endpoint right and the member '
                             'running? Raise timeout for slow operations.' % (self.timeout, endpoint),
                             kind=KIND_TIMEOUT if isinstance(exc, (socket.timeout,)) else KIND_UNREACHABLE,
                             endpoint=endpoint)
        hint = 'Check that the member is running and listens on this address.'
        if endpoint.startswith('http://') and ('closed connection' in text.lower() or 'reset' in text.lower()):
            hint = ('The member closed the connection: if it serves TLS, use an https:// endpoint '
                    '(and ca_cert/client_cert/client_key).')
        if isinstance(reason, (ConnectionError, OSError, socket.error, HTTPException)) or isinstance(exc, URLError):
            return EtcdError('Cannot connect to etcd endpoint %s: %s. %s' % (endpoint, text, hint),
                             kind=KIND_UNREACHABLE, endpoint=endpoint)
        if isinstance(exc, HTTPException):
            return EtcdError('Broken HTTP answer from %s: %s (%s).' % (endpoint, text, exc.__class__.__name__),
                             kind=KIND_UNREACHABLE, endpoint=endpoint)
        return EtcdError('Error talking to %s: %s (%s).' % (endpoint, text, exc.__class__.__name__),
                         kind=KIND_UNREACHABLE, endpoint=endpoint)

    def _http_error(self, exc, endpoint, path):
        try:
            body = exc.read()
        except Exception:  # pylint: disable=broad-except
            body = b''
        status = exc.code
        code = None
        server_message = None
        try:
            data = json.loads(body.decode('utf-8', 'replace'))
            if isinstance(data, dict):
                err = data.get('error')
                if isinstance(err, dict):  # streaming error shape
                    code = to_int(err.get('grpc_code'), None)
                    server_message = err.get('message')
                else:
                    code = to_int(data.get('code'), None)
                    server_message = data.get('message') or err
        except (ValueError, AttributeError):
            server_message = body.decode('utf-8', 'replace').strip()[:300] or None
        if code is None:
            text = server_message or (getattr(exc, 'reason', '') or '')
            if status == 400 and 'https' in (text or '').lower():
                return EtcdError('%s answered HTTP 400: %s. The member serves TLS: use an https:// endpoint.'
                                 % (endpoint, text), kind=KIND_CONFIG, endpoint=endpoint, status=status)
            hint = ''
            if status == 400 and self.client_cert:
                hint = (' If etcd runs with client-certificate auth and authentication enabled, its JSON gateway '
                        'rejects client certificates that carry a CommonName: use a certificate without CN '
                        '(subjectAltName only) together with user/password.')
            if status == 404:
                hint = ' Is this an etcd v3 client URL (not a peer URL or a proxy)?'
            return EtcdError('%s answered HTTP %s to %s: %s.%s' % (endpoint, status, path, text or 'no body', hint),
                             kind=KIND_PROTOCOL if status != 400 else KIND_INVALID, endpoint=endpoint,
                             status=status, server_message=server_message)
        kind, hint = _classify(code, server_message, status)
        msg = '%s (%s) from %s for %s' % (server_message, _GRPC_NAMES.get(code, code), endpoint, path)
        if hint:
            msg += '. ' + hint
        return EtcdError(msg, kind=kind, endpoint=endpoint, code=code, status=status,
                         server_message=server_message)

    def _raw(self, endpoint, path, body, timeout=None, token=None):
        url = endpoint + path
        headers = {}
        if token:
            headers['Authorization'] = token
        data = json.dumps(body if body is not None else {})
        try:
            resp = self._open(url, data=data, headers=headers, timeout=timeout)
            raw = resp.read()
        except HTTPError as exc:
            raise self._http_error(exc, endpoint, path)
        except EtcdError:
            raise
        except (URLError, HTTPException, socket.error, socket.timeout, ssl.SSLError, ValueError) as exc:
            raise self._transport_error(exc, endpoint)
        except Exception as exc:  # pylint: disable=broad-except
            # open_url wraps some TLS problems in its own exception types
            raise self._transport_error(exc, endpoint)
        try:
            result = json.loads(raw.decode('utf-8'))
        except ValueError:
            raise EtcdError('%s returned something that is not JSON for %s: %r' % (endpoint, path, raw[:200]),
                            kind=KIND_PROTOCOL, endpoint=endpoint)
        if isinstance(result, dict) and 'error' in result and 'code' in result and len(result) <= 4:
            code = to_int(result.get('code'), None)
            kind, hint = _classify(code, result.get('message'))
            raise EtcdError('%s from %s for %s. %s' % (result.get('message'), endpoint, path, hint),
                            kind=kind, endpoint=endpoint, code=code, server_message=result.get('message'))
        if not isinstance(result, dict):
            raise EtcdError('%s returned unexpected JSON for %s' % (endpoint, path), kind=KIND_PROTOCOL,
                            endpoint=endpoint)
        return result

    def _authenticate(self, endpoint, timeout=None):
        try:
            result = self._raw(endpoint, '/v3/auth/authenticate',
                               {'name': self.user, 'password': self.password or ''}, timeout=timeout)
        except EtcdError as err:
            if err.kind == KIND_AUTH or (err.server_message or '').find('authentication failed') >= 0:
                raise EtcdError('Authentication as user %r failed at %s: %s. Check the user and password '
                                'options.' % (self.user, endpoint, err.server_message or err.message),
                                kind=KIND_AUTH, endpoint=endpoint, code=err.code, status=err.status,
                                server_message=err.server_message)
            if err.kind == KIND_PRECONDITION and 'not enabled' in (err.server_message or ''):
                # auth is disabled on the cluster: requests work without a token
                self._tokens[endpoint] = ''
                return ''
            raise
        token = result.get('token') or ''
        self._tokens[endpoint] = token
        return token

    def _call_one(self, endpoint, path, body, timeout=None, auth=True):
        token = None
        if auth and self.user:
            token = self._tokens.get(endpoint)
            if token is None and auth == 'lazy' and endpoint in self._auth_unavailable:
                token = ''
            elif token is None:
                try:
                    token = self._authenticate(endpoint, timeout)
                except EtcdError as err:
                    # authentication is a raft request: without a leader it cannot work, but reads that etcd
                    # serves without a user still can
                    if auth != 'lazy' or err.kind not in FAILOVER_KINDS:
                        raise
                    self._auth_unavailable.add(endpoint)
                    token = ''
        try:
            return self._raw(endpoint, path, body, timeout=timeout, token=token)
        except EtcdError as err:
            if not (auth and self.user) or err.kind != KIND_AUTH or 'authentication failed' in (err.server_message or ''):
                raise
            # token expired/invalid or the server now wants one: renew once
            self._tokens.pop(endpoint, None)
            token = self._authenticate(endpoint, timeout)
            return self._raw(endpoint, path, body, timeout=timeout, token=token)

    def call(self, path, body=None, endpoint=None, timeout=None, auth=True, mutating=False):
        """POST ``body`` to ``path``; see the module docstring for failover rules."""
        if endpoint is not None:
            return self._call_one(normalize_endpoint(endpoint), path, body, timeout, auth)
        errors = []
        for ep in self.endpoints:
            try:
                return self._call_one(ep, path, body, timeout, auth)
            except EtcdError as err:
                kinds = MUTATING_FAILOVER_KINDS if mutating else FAILOVER_KINDS
                if err.kind not in kinds or (mutating and 'timed out' in err.message.lower()):
                    raise
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        kinds = set(e.kind for e in errors)
        kind = kinds.pop() if len(kinds) == 1 else KIND_ALL_FAILED
        raise EtcdError('No etcd endpoint could serve %s: %s' % (path, ' | '.join(e.message for e in errors)),
                        kind=kind, errors=errors)

    def stream(self, path, body=None, endpoint=None, timeout=None):
        """Generator over the ``result`` objects of a server-streaming gateway call."""
        endpoint = normalize_endpoint(endpoint or self.endpoints[0])
        token = None
        if self.user:
            token = self._tokens.get(endpoint)
            if token is None:
                token = self._authenticate(endpoint, timeout)
        headers = {'Authorization': token} if token else {}
        try:
            resp = self._open(endpoint + path, data=json.dumps(body or {}), headers=headers, timeout=timeout)
        except HTTPError as exc:
            raise self._http_error(exc, endpoint, path)
        except Exception as exc:  # pylint: disable=broad-except
            raise self._transport_error(exc, endpoint)
        try:
            while True:
                try:
                    line = resp.readline()
                except Exception as exc:  # pylint: disable=broad-except
                    raise self._transport_error(exc, endpoint)
                if not line:
                    break
                line = line.strip()
                if not line:
                    continue
                try:
                    item = json.loads(line.decode('utf-8'))
                except ValueError:
                    raise EtcdError('%s sent a malformed stream line for %s' % (endpoint, path),
                                    kind=KIND_PROTOCOL, endpoint=endpoint)
                if 'error' in item:
                    err = item['error']
                    if isinstance(err, dict):
                        code = to_int(err.get('grpc_code', err.get('code')), None)
                        message = err.get('message')
                    else:
                        code = to_int(item.get('code'), None)
                        message = item.get('message') or err
                    kind, hint = _classify(code, message)
                    raise EtcdError('%s from %s for %s. %s' % (message, endpoint, path, hint), kind=kind,
                                    endpoint=endpoint, code=code, server_message=message)
                yield item.get('result', item)
        finally:
            try:
                resp.close()
            except Exception:  # pylint: disable=broad-except
                pass

    # -------------------------------------------------------------------------------------- maintenance

    def status(self, endpoint, timeout=None):
        endpoint = normalize_endpoint(endpoint)
        # etcd >= 3.5.28 (CVE-2026-33413) answers Status only to an authenticated user when auth is on; older
        # releases serve it to anyone. 'lazy': authenticate when a user is set, but a member without a leader
        # (authentication is a raft request) is still asked without a token
        raw = self._call_one(endpoint, '/v3/maintenance/status', {}, timeout=timeout, auth='lazy')
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

    def health(self, endpoint, timeout=None):
        endpoint = normalize_endpoint(endpoint)
        try:
            resp = self._open(endpoint + '/health', method='GET', timeout=timeout)
            raw = resp.read()
        except HTTPError as exc:
            # /health answers 503 with a JSON body when unhealthy
            try:
                data = json.loads(exc.read().decode('utf-8'))
                return dict(endpoint=endpoint, healthy=str(data.get('health')).lower() == 'true',
                            reason=data.get('reason') or 'HTTP %s' % exc.code)
            except Exception:  # pylint: disable=broad-except
                raise self._http_error(exc, endpoint, '/health')
        except Exception as exc:  # pylint: disable=broad-except
            raise self._transport_error(exc, endpoint)
        try:
            data = json.loads(raw.decode('utf-8'))
        except ValueError:
            raise EtcdError('%s/health did not return JSON' % endpoint, kind=KIND_PROTOCOL, endpoint=endpoint)
        return dict(endpoint=endpoint, healthy=str(data.get('health')).lower() == 'true',
                    reason=data.get('reason') or '')

    def probe(self, endpoint, timeout=None):
        """status() + health() of one endpoint as a dict that never raises (``error`` says what failed)."""
        item = dict(endpoint=normalize_endpoint(endpoint), healthy=False, error=None, cluster_id=None,
                    member_id=None, leader_id=None, revision=None, version=None, db_size=None,
                    db_size_in_use=None, raft_term=None, raft_index=None, raft_applied_index=None,
                    is_learner=None, is_leader=None, errors=[])
        try:
            item.update(self.status(endpoint, timeout=timeout))
            health = self.health(endpoint, timeout=timeout)
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
        self._call_one(normalize_endpoint(endpoint), '/v3/maintenance/defragment', {},
                       timeout=timeout or max(self.timeout, 60))

    def hash(self, endpoint, revision=0, timeout=None):
        body = {'revision': str(int(revision))} if revision else {}
        raw = self._call_one(normalize_endpoint(endpoint), '/v3/maintenance/hash', body, timeout=timeout)
        header = raw.get('header') or {}
        return dict(hash=to_int(raw.get('hash')), revision=to_int(header.get('revision')),
                    member_id=to_int(header.get('member_id')),
                    compact_revision=to_int(raw.get('compact_revision')))

    hash_kv = hash

    def move_leader(self, target_id, endpoint, timeout=None):
        self._call_one(normalize_endpoint(endpoint), '/v3/maintenance/transfer-leadership',
                       {'targetID': str(int(target_id))}, timeout=timeout)

    def snapshot(self, endpoint, timeout=None):
        for item in self.stream('/v3/maintenance/snapshot', {}, endpoint=endpoint,
                                timeout=timeout or max(self.timeout, 60)):
            blob = item.get('blob')
            if blob:
                yield unb64(blob)

    # ------------------------------------------------------------------------------------------ cluster

    def member_list(self, endpoint=None, linearizable=False, timeout=None):
        body = {'linearizable': True} if linearizable else {}
        raw = self.call('/v3/cluster/member/list', body, endpoint=endpoint, timeout=timeout, auth='lazy')
        header = raw.get('header') or {}
        return dict(cluster_id=to_int(header.get('cluster_id')), member_id=to_int(header.get('member_id')),
                    members=[_member(m) for m in raw.get('members') or []])

    def member_add(self, peer_urls, is_learner=False, timeout=None):
        body = {'peerURLs': list(peer_urls)}
        if is_learner:
            body['isLearner'] = True
        raw = self.call('/v3/cluster/member/add', body, timeout=timeout, mutating=True)
        return dict(member=_member(raw.get('member') or {}), members=[_member(m) for m in raw.get('members') or []])

    def member_remove(self, member_id, timeout=None):
        raw = self.call('/v3/cluster/member/remove', {'ID': str(int(member_id))}, timeout=timeout, mutating=True)
        return [_member(m) for m in raw.get('members') or []]

    def member_promote(self, member_id, timeout=None, endpoint=None):
        raw = self.call('/v3/cluster/member/promote', {'ID': str(int(member_id))}, endpoint=endpoint,
                        timeout=timeout, mutating=True)
        return [_member(m) for m in raw.get('members') or []]

    def member_update(self, member_id, peer_urls, timeout=None):
        raw = self.call('/v3/cluster/member/update', {'ID': str(int(member_id)), 'peerURLs': list(peer_urls)},
                        timeout=timeout, mutating=True)
        return [_member(m) for m in raw.get('members') or []]

    def alarm_list(self, endpoint=None, timeout=None):
        raw = self.call('/v3/maintenance/alarm', {'action': 'GET'}, endpoint=endpoint, timeout=timeout, auth='lazy')
        return [dict(member_id=to_int(a.get('memberID')), alarm=a.get('alarm') or 'NONE')
                for a in raw.get('alarms') or []]

    def alarm_disarm(self, member_id, alarm, timeout=None):
        raw = self.call('/v3/maintenance/alarm',
                        {'action': 'DEACTIVATE', 'memberID': str(int(member_id)), 'alarm': alarm},
                        timeout=timeout, mutating=True)
        return [dict(member_id=to_int(a.get('memberID')), alarm=a.get('alarm') or 'NONE')
                for a in raw.get('alarms') or []]

    # --------------------------------------------------------------------------------------------- keys

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

    def delete(self, key, prefix=False, prev_kv=False, timeout=None):
        body = {'key': b64(key)}
        if prefix:
            body['range_end'] = b64(prefix_end(key))
        if prev_kv:
            body['prev_kv'] = True
        raw = self.call('/v3/kv/deleterange', body, timeout=timeout, mutating=True)
        return dict(revision=to_int((raw.get('header') or {}).get('revision')), deleted=to_int(raw.get('deleted')),
                    prev_kvs=[_kv(kv) for kv in raw.get('prev_kvs') or []])

    def txn(self, compare, success, failure=None, timeout=None):
        body = {'compare': compare, 'success': success}
        if failure:
            body['failure'] = failure
        return self.call('/v3/kv/txn', body, timeout=timeout, mutating=True)

    def compact(self, revision, physical=False, endpoint=None, timeout=None):
        body = {'revision': str(int(revision))}
        if physical:
            body['physical'] = True
        self.call('/v3/kv/compaction', body, endpoint=endpoint, timeout=timeout or max(self.timeout, 60))
