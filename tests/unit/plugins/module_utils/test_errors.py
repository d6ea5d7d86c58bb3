# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The one parser of gateway error bodies (etcd 3.5 and 3.6 shapes) and the error classification."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _errors as e

PARSE = [
    ('3.5 unary', {'error': 'etcdserver: permission denied', 'code': 7, 'message': 'etcdserver: permission denied'},
     (7, 'etcdserver: permission denied')),
    ('3.6 unary', {'code': 9, 'message': 'etcdserver: user name not found', 'details': []},
     (9, 'etcdserver: user name not found')),
    ('3.6 unary without details', {'code': 14, 'message': 'etcdserver: no leader'}, (14, 'etcdserver: no leader')),
    ('3.5 unary code as string', {'error': 'x', 'code': '3', 'message': 'x'}, (3, 'x')),
    ('3.5 error without message', {'error': 'only error', 'code': 2}, (2, 'only error')),
    ('3.5 stream', {'error': {'grpc_code': 7, 'http_code': 403, 'message': 'denied', 'http_status': 'Forbidden'}},
     (7, 'denied')),
    ('3.6 stream', {'error': {'code': 7, 'message': 'denied', 'details': []}}, (7, 'denied')),
    ('success with header', {'header': {'revision': '4'}, 'code': 1, 'message': 'x'}, None),
    ('success kv', {'header': {}, 'kvs': []}, None),
    ('success without header', {'members': []}, None),
    ('code but other fields', {'code': 3, 'message': 'x', 'kvs': []}, None),
    ('code alone', {'code': 3}, None),
    ('not a dict', ['x'], None),
    ('health body', {'health': 'false', 'reason': 'NOSPACE'}, None),
]


@pytest.mark.parametrize('body, expected', [c[1:] for c in PARSE], ids=[c[0] for c in PARSE])
def test_parse_error_body(body, expected):
    assert e.parse_error_body(body) == expected


CLASSIFY = [
    (3, 'etcdserver: authentication failed, invalid user ID or password', e.KIND_AUTH),
    (3, 'etcdserver: user name is empty', e.KIND_AUTH),
    (16, 'etcdserver: invalid auth token', e.KIND_AUTH),
    (16, 'something', e.KIND_AUTH),
    (7, 'etcdserver: permission denied', e.KIND_PERMISSION),
    (14, 'etcdserver: no leader', e.KIND_NO_LEADER),
    (14, 'etcdserver: request timed out', e.KIND_TIMEOUT),
    (4, 'context deadline exceeded', e.KIND_TIMEOUT),
    (14, 'etcdserver: unhealthy cluster', e.KIND_UNAVAILABLE),
    (5, 'etcdserver: member not found', e.KIND_NOT_FOUND),
    (9, 'etcdserver: user name not found', e.KIND_NOT_FOUND),
    (9, 'etcdserver: role name not found', e.KIND_NOT_FOUND),
    (9, 'etcdserver: user name already exists', e.KIND_EXISTS),
    (6, 'etcdserver: member ID already exist', e.KIND_EXISTS),
    (9, 'etcdserver: root user does not have root role', e.KIND_PRECONDITION),
    (9, 'etcdserver: can only promote a learner member which is in sync with leader', e.KIND_PRECONDITION),
    (3, 'etcdserver: key is not provided', e.KIND_INVALID),
    (11, 'etcdserver: mvcc: required revision is a future revision', e.KIND_INVALID),
    (13, 'something odd', e.KIND_SERVER),
    (None, '', e.KIND_SERVER),
]


@pytest.mark.parametrize('code, message, kind', CLASSIFY)
def test_classify(code, message, kind):
    assert e.classify(code, message)[0] == kind


def test_gateway_error_message_and_dict():
    err = e.gateway_error(7, 'etcdserver: permission denied', 'https://a:2379', '/v3/kv/put', status=403)
    assert isinstance(err, e.CoreError) and err.kind == e.KIND_PERMISSION and 'PERMISSION_DENIED' in str(err)
    assert err.to_dict()['status'] == 403 and 'details' not in err.to_dict()
    err.details['x'] = 1
    assert err.to_dict()['details'] == {'x': 1}
