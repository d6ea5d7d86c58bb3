# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Errors of the etcd core: ``EtcdError``, its kinds, and the ONE parser of JSON gateway error bodies.

Standard library only (the RAM-disk helper imports this on the nodes).

Gateway error bodies (all handled by ``parse_error_body``):

- etcd 3.4/3.5 (grpc-gateway v1), unary call: ``{"error": "etcdserver: ...", "code": 3, "message": "etcdserver: ..."}``
- etcd 3.6 (grpc-gateway v2), unary call: ``{"code": 3, "message": "etcdserver: ...", "details": []}`` (no
  top-level ``error``)
- server-streaming calls (snapshot), both versions: one line ``{"error": {"grpc_code": 7, "http_code": 403,
  "message": "...", "http_status": "Forbidden"}}`` (3.5) or ``{"error": {"code": 7, "message": "...",
  "details": []}}`` (3.6)
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

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

ALL_KINDS = (KIND_CONFIG, KIND_UNREACHABLE, KIND_TLS, KIND_AUTH, KIND_PERMISSION, KIND_NO_LEADER, KIND_TIMEOUT,
             KIND_UNAVAILABLE, KIND_NOT_FOUND, KIND_INVALID, KIND_PRECONDITION, KIND_EXISTS, KIND_PROTOCOL,
             KIND_SERVER, KIND_ALL_FAILED)

# errors after which another endpoint may answer a read
FAILOVER_KINDS = frozenset([KIND_UNREACHABLE, KIND_TLS, KIND_NO_LEADER, KIND_TIMEOUT, KIND_UNAVAILABLE,
                            KIND_PROTOCOL])
# a change is only sent to another endpoint when it certainly did not reach etcd
MUTATING_FAILOVER_KINDS = frozenset([KIND_UNREACHABLE, KIND_TLS, KIND_NO_LEADER])

GRPC_NAMES = {
    0: 'OK', 1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND',
    6: 'ALREADY_EXISTS', 7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED', 9: 'FAILED_PRECONDITION',
    10: 'ABORTED', 11: 'OUT_OF_RANGE', 12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE',
    15: 'DATA_LOSS', 16: 'UNAUTHENTICATED',
}


class CoreError(Exception):
    """Base of every failure the core reports with a message meant for humans (also ``str(err)``);
    ``details`` is a dict of extra facts. ``EtcdModule`` turns any CoreError into ``fail_json``."""

    def __init__(self, message, details=None):
        super(CoreError, self).__init__(message)
        self.message = message
        self.details = details or {}

    def __str__(self):
        return self.message

    def to_dict(self):
        out = dict(kind='error', message=self.message)
        if self.details:
            out['details'] = self.details
        return out


class EtcdError(CoreError):
    """A failed etcd operation, with a complete sentence for humans in ``message`` (also ``str(err)``).

    ``kind`` is one of the ``KIND_*`` constants; ``endpoint`` the URL or None; ``code`` the gRPC code reported
    by etcd or None; ``status`` the HTTP status or None; ``server_message`` etcd's own text or None; ``errors``
    the per-endpoint errors when every endpoint failed; ``details`` a dict of extra facts for the caller (it is
    returned by modules as ``error.details``).
    """

    def __init__(self, message, kind=KIND_SERVER, endpoint=None, code=None, status=None,
                 server_message=None, errors=None, details=None):
        super(EtcdError, self).__init__(message, details)
        self.kind = kind
        self.endpoint = endpoint
        self.code = code
        self.status = status
        self.server_message = server_message
        self.errors = errors or []

    def to_dict(self):
        out = dict(kind=self.kind, endpoint=self.endpoint, code=self.code, status=self.status,
                   message=self.message, server_message=self.server_message)
        if self.details:
            out['details'] = self.details
        return out


def _code(value):
    if value is None or value == '' or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_error_body(data):
    """Return ``(grpc_code or None, message)`` when ``data`` (parsed JSON) is a gateway error body, else None.

    Accepts the 3.4/3.5 and 3.6 unary shapes and the streaming ``{"error": {...}}`` shape (see module doc).
    A successful answer is never taken for an error: it has a ``header`` or none of the error fields.
    """
    if not isinstance(data, dict):
        return None
    err = data.get('error')
    if isinstance(err, dict):
        return _code(err.get('grpc_code', err.get('code'))), err.get('message') or ''
    if 'header' in data or 'code' not in data:
        return None
    if err is None and 'message' not in data:
        return None
    if not set(data) <= set(['error', 'code', 'message', 'details']):
        return None
    return _code(data.get('code')), data.get('message') or (err if isinstance(err, str) else '') or ''


def classify(code, message):
    """Map etcd's gRPC code and message to ``(kind, hint)``; the hint tells a human what to do."""
    msg = (message or '').lower()
    if 'no leader' in msg:
        return KIND_NO_LEADER, ('The member has no leader: the cluster has probably lost quorum or is '
                                'electing; check the other members.')
    if 'authentication failed' in msg or 'invalid user id or password' in msg:
        return KIND_AUTH, 'Check the user and password options.'
    if 'user name is empty' in msg:
        return KIND_AUTH, ('Authentication is enabled on this cluster: set the user and password options '
                           '(or ETCDCTL_USER/ETCDCTL_PASSWORD).')
    if 'user name not found' in msg or 'role name not found' in msg:
        return KIND_NOT_FOUND, ''
    if 'user name already exists' in msg or 'role name already exists' in msg:
        return KIND_EXISTS, ''
    if 'invalid auth token' in msg or ('token' in msg and code == 16):
        return KIND_AUTH, 'The authentication token was rejected twice; check the user and password options.'
    if 'root user does not exist' in msg or 'root user does not have root role' in msg:
        return KIND_PRECONDITION, ('Create the user root with the role root before enabling authentication '
                                   '(etcdkit.etcd.etcd_user name=root roles=[root]).')
    if code == 16:
        return KIND_AUTH, 'Check the user and password options.'
    if code == 7 or 'permission denied' in msg:
        return KIND_PERMISSION, ('The user is authenticated but lacks the permission for this operation; '
                                 'use a user with the needed role (maintenance, membership and auth need root).')
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


def gateway_error(code, server_message, endpoint, path, status=None):
    """EtcdError for a gateway error body (after ``parse_error_body``)."""
    kind, hint = classify(code, server_message)
    msg = '%s (%s) from %s for %s' % (server_message, GRPC_NAMES.get(code, code), endpoint, path)
    if hint:
        msg += '. ' + hint
    return EtcdError(msg, kind=kind, endpoint=endpoint, code=code, status=status, server_message=server_message)
