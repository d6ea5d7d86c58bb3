# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Unit tests for the pure parts of the JSON gateway client (encoding, ids, error mapping)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import io
import json
import os

import pytest

from urllib.error import HTTPError, URLError

from ansible_collections.etcdkit.etcd.plugins.module_utils import _client as cl
from ansible_collections.etcdkit.etcd.plugins.module_utils import _errors as e
from ansible_collections.etcdkit.etcd.plugins.module_utils import _transport as tr


@pytest.mark.parametrize('value, expected', [
    ('123', 123), (None, 0), ('', 0), (7, 7), (True, 1), ('18446744073709551615', 18446744073709551615), ('x', 0),
])
def test_to_int(value, expected):
    assert tr.to_int(value) == expected


@pytest.mark.parametrize('key, end', [
    (b'a', b'b'), (b'/foo/', b'/foo0'), (b'a\xff', b'b'), (b'\xff\xff', b'\x00'), ('ü', 'ü'.encode()[:-1] + b'\xbd'),
])
def test_prefix_end(key, end):
    assert tr.prefix_end(key) == end


def test_b64_roundtrip():
    assert tr.b64('foo') == 'Zm9v'
    assert tr.unb64(tr.b64('grün ✓')).decode('utf-8') == 'grün ✓'
    assert tr.unb64(None) == b'' and tr.unb64('') == b''


@pytest.mark.parametrize('text, expected', [
    ('8e9e05c52164694d', 0x8e9e05c52164694d), ('0x10', 16), ('10276657743932975437', 10276657743932975437),
    (5, 5), ('00000000000000ff', 255),
])
def test_parse_id(text, expected):
    assert tr.parse_id(text) == expected
    assert tr.parse_id(tr.format_id(expected)) == expected


@pytest.mark.parametrize('endpoint, expected', [
    ('10.0.0.1:2379', 'https://10.0.0.1:2379'), ('http://h:2379/', 'http://h:2379'),
    (' https://h:2379 ', 'https://h:2379'),
])
def test_normalize_endpoint(endpoint, expected):
    assert tr.normalize_endpoint(endpoint) == expected


@pytest.mark.parametrize('endpoint', ['', 'unix:///run/etcd.sock', 'ftp://x'])
def test_normalize_endpoint_rejects(endpoint):
    with pytest.raises(cl.EtcdError) as err:
        tr.normalize_endpoint(endpoint)
    assert err.value.kind == e.KIND_CONFIG


@pytest.mark.parametrize('code, message, kind', [
    (3, 'etcdserver: authentication failed, invalid user ID or password', e.KIND_AUTH),
    (3, 'etcdserver: user name is empty', e.KIND_AUTH),
    (2, 'auth: user name is empty', e.KIND_AUTH),
    (16, 'etcdserver: invalid auth token', e.KIND_AUTH),
    (7, 'etcdserver: permission denied', e.KIND_PERMISSION),
    (14, 'etcdserver: no leader', e.KIND_NO_LEADER),
    (14, 'etcdserver: request timed out', e.KIND_TIMEOUT),
    (14, 'etcdserver: unhealthy cluster', e.KIND_UNAVAILABLE),
    (5, 'etcdserver: member not found', e.KIND_NOT_FOUND),
    (9, 'etcdserver: can only promote a learner member which is in sync with leader', e.KIND_PRECONDITION),
    (3, 'etcdserver: key is not provided', e.KIND_INVALID),
    (13, 'something odd', e.KIND_SERVER),
])
def test_classify(code, message, kind):
    assert e.classify(code, message)[0] == kind


def test_constructor_checks():
    with pytest.raises(cl.EtcdError, match='No etcd endpoint'):
        cl.EtcdClient([])
    with pytest.raises(cl.EtcdError, match='does not exist'):
        cl.EtcdClient(['h:2379'], ca_cert='/nonexistent/ca.pem')
    with pytest.raises(cl.EtcdError, match='together'):
        cl.EtcdClient(['h:2379'], client_cert=__file__)
    with pytest.raises(cl.EtcdError, match='password'):
        cl.EtcdClient(['h:2379'], user='root')
    with pytest.raises(cl.EtcdError, match='user'):
        cl.EtcdClient(['h:2379'], password='x')
    c = cl.EtcdClient('a:2379,a:2379,http://b:2379')
    assert c.endpoints == ['https://a:2379', 'http://b:2379']


class FakeResponse(object):
    def __init__(self, payload):
        self._data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self._lines = io.BytesIO(self._data)

    def read(self, size=None):
        if size is None:
            return self._data
        return self._lines.read(size)

    def readline(self):
        return self._lines.readline()

    def close(self):
        pass


class FakeHTTPError(HTTPError):
    def __init__(self, url, status, payload):
        body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        super(FakeHTTPError, self).__init__(url, status, 'err', {}, io.BytesIO(body))


class ScriptedClient(cl.EtcdClient):
    """EtcdClient whose injected opener answers from a script: list of (url_suffix, response or exception)."""

    def __init__(self, script, **kwargs):
        super(ScriptedClient, self).__init__(['https://a:2379', 'https://b:2379'], opener=self._open, **kwargs)
        self.script = list(script)
        self.sent = []

    def _open(self, url, data=None, headers=None, method='POST', timeout=None, tls=None):
        self.sent.append((url, json.loads(data) if data else None, dict(headers or {})))
        suffix, answer = self.script.pop(0)
        assert url.endswith(suffix), (url, suffix)
        if isinstance(answer, Exception):
            raise answer
        return FakeResponse(answer)


def test_auth_token_sent_and_renewed_once():
    invalid = FakeHTTPError('u', 401, {'error': 'etcdserver: invalid auth token', 'code': 16,
                                       'message': 'etcdserver: invalid auth token'})
    c = ScriptedClient([
        ('/v3/auth/authenticate', {'token': 'T1'}),
        ('/v3/kv/range', invalid),
        ('/v3/auth/authenticate', {'token': 'T2'}),
        ('/v3/kv/range', {'header': {'revision': '5'}, 'kvs': [{'key': 'Zm9v', 'value': 'YmFy', 'mod_revision': '4'}],
                          'count': '1'}),
    ], user='root', password='pw')
    res = c.range('foo')
    assert res['revision'] == 5 and res['kvs'][0]['value'] == 'bar' and res['kvs'][0]['version'] == 0
    assert c.sent[1][2]['Authorization'] == 'T1' and c.sent[3][2]['Authorization'] == 'T2'
    assert c.sent[0][1] == {'name': 'root', 'password': 'pw'}


def test_wrong_password_is_auth_error_without_failover():
    bad = FakeHTTPError('u', 400, {'error': 'etcdserver: authentication failed, invalid user ID or password',
                                   'code': 3, 'message': 'etcdserver: authentication failed, invalid user ID or password'})
    c = ScriptedClient([('/v3/auth/authenticate', bad)], user='root', password='bad')
    with pytest.raises(cl.EtcdError) as err:
        c.member_list()
    assert err.value.kind == e.KIND_AUTH and 'password' in str(err.value) and len(c.sent) == 1


def test_failover_on_unreachable_and_all_failed():
    refused = URLError(ConnectionRefusedError(111, 'Connection refused'))
    c = ScriptedClient([('a:2379/v3/cluster/member/list', refused),
                        ('b:2379/v3/cluster/member/list', {'header': {'cluster_id': '9'}, 'members': [
                            {'ID': '1', 'name': 'x', 'peerURLs': ['p'], 'isLearner': True}]})])
    res = c.member_list()
    assert res['cluster_id'] == 9 and res['members'][0]['is_learner'] is True
    c = ScriptedClient([('a:2379/v3/cluster/member/list', refused), ('b:2379/v3/cluster/member/list', refused)])
    with pytest.raises(cl.EtcdError) as err:
        c.member_list()
    assert err.value.kind == e.KIND_UNREACHABLE and 'a:2379' in str(err.value) and 'b:2379' in str(err.value)


def test_mutation_not_repeated_after_timeout():
    c = ScriptedClient([('/v3/cluster/member/add', URLError('timed out'))])
    c.script[0] = ('/v3/cluster/member/add', __import__('socket').timeout('timed out'))
    with pytest.raises(cl.EtcdError) as err:
        c.member_add(['https://x:2380'])
    assert len(c.sent) == 1 and err.value.kind == e.KIND_TIMEOUT


def test_cn_certificate_hint_on_bare_400(tmp_path):
    cert = tmp_path / 'c.pem'
    cert.write_text('x')
    c = ScriptedClient([('/v3/maintenance/status', FakeHTTPError('u', 400, b''))], client_cert=str(cert),
                       client_key=str(cert))
    with pytest.raises(cl.EtcdError) as err:
        c.status('https://a:2379')
    assert 'CommonName' in str(err.value)


def test_snapshot_stream_and_stream_error():
    lines = b'{"result":{"blob":"YWJj","remaining_bytes":"3"}}\n{"result":{"blob":"ZGVm"}}\n'
    c = ScriptedClient([('/v3/maintenance/snapshot', lines)])
    assert b''.join(c.snapshot('https://a:2379')) == b'abcdef'
    lines = b'{"result":{"blob":"YWJj"}}\n{"error":{"grpc_code":7,"http_code":403,"message":"etcdserver: permission denied"}}\n'
    c = ScriptedClient([('/v3/maintenance/snapshot', lines)])
    gen = c.snapshot('https://a:2379')
    assert next(gen) == b'abc'
    with pytest.raises(cl.EtcdError) as err:
        next(gen)
    assert err.value.kind == e.KIND_PERMISSION


def test_status_parses_gateway_quirks():
    c = ScriptedClient([('/v3/maintenance/status', {
        'header': {'cluster_id': '15723842493464213909', 'member_id': '8087129374121311380', 'revision': '4'},
        'version': '3.5.1', 'dbSize': '20480', 'leader': '8087129374121311380', 'raftIndex': '22', 'raftTerm': '2',
        'raftAppliedIndex': '22', 'dbSizeInUse': '16384'})])
    s = c.status('https://a:2379')
    assert s['is_leader'] is True and s['is_learner'] is False and s['errors'] == []
    assert s['db_size'] == 20480 and s['cluster_id'] == 15723842493464213909


def test_lazy_auth_reads_without_leader_but_changes_fail():
    def no_leader():
        return FakeHTTPError('u', 503, {'error': 'etcdserver: no leader', 'code': 14, 'message': 'etcdserver: no leader'})

    c = ScriptedClient([
        ('a:2379/v3/auth/authenticate', no_leader()),
        ('a:2379/v3/cluster/member/list', {'members': [{'ID': '1', 'name': 'x'}]}),
    ], user='root', password='pw')
    assert c.member_list()['members'][0]['name'] == 'x'
    assert 'Authorization' not in c.sent[1][2]
    c.script = [('a:2379/v3/auth/authenticate', no_leader()), ('b:2379/v3/auth/authenticate', no_leader())]
    with pytest.raises(cl.EtcdError) as err:
        c.put('k', 'v')
    assert err.value.kind == e.KIND_NO_LEADER and 'leader' in str(err.value)


@pytest.mark.parametrize('line,field,rest,value', [
    (b'{"result":{"header":{"revision":"5"},"remaining_bytes":"3","blob":"YWJj"}}', 'blob',
     b'{"result":{"header":{"revision":"5"},"remaining_bytes":"3"}}', b'YWJj'),
    (b'{"result":{"blob":"YWJj","remaining_bytes":"3"}}', 'blob', b'{"result":{"remaining_bytes":"3"}}', b'YWJj'),
    (b'{"result":{"blob":"YWJj"}}', 'blob', b'{"result":{}}', b'YWJj'),
    (b'{"result":{"blob":""}}', 'blob', b'{"result":{}}', b''),
    (b'{"error":{"grpc_code":7,"message":"denied"}}', 'blob', b'{"error":{"grpc_code":7,"message":"denied"}}', None),
    (b'{"result":{"blob":"YWJj', 'blob', b'{"result":{"blob":"YWJj', None),  # cut line: left to the JSON parser
])
def test_cut_field(line, field, rest, value):
    got_rest, got_value = tr._cut_field(line, field)
    assert (got_rest, got_value) == (rest, value)
    if value is not None:
        json.loads(got_rest.decode())


@pytest.mark.parametrize('block', [1, 5, 17, 64, 1 << 20])
def test_snapshot_stream_whatever_the_read_size(monkeypatch, block):
    monkeypatch.setattr(tr, 'STREAM_READ', block)
    data = [os.urandom(n) for n in (1, 100, 3000, 0, 7)]
    body = b''.join(b'{"result":{"header":{"revision":"9"},"remaining_bytes":"%d","blob":"%s"}}\n\n' % (
        i, base64.b64encode(d)) for i, d in enumerate(data))
    c = ScriptedClient([('/v3/maintenance/snapshot', body.rstrip(b'\n'))])  # the last line without its newline
    assert b''.join(c.snapshot('https://a:2379')) == b''.join(data)


def test_snapshot_stream_bad_base64_and_malformed_line():
    c = ScriptedClient([('/v3/maintenance/snapshot', b'{"result":{"blob":"YWJ"}}\n')])
    with pytest.raises(cl.EtcdError) as err:
        list(c.snapshot('https://a:2379'))
    assert err.value.kind == e.KIND_PROTOCOL and 'base64' in str(err.value)
    c = ScriptedClient([('/v3/maintenance/snapshot', b'{"result":{"blob":"YWJj"}\n')])
    with pytest.raises(cl.EtcdError) as err:
        list(c.snapshot('https://a:2379'))
    assert err.value.kind == e.KIND_PROTOCOL and 'malformed' in str(err.value)
