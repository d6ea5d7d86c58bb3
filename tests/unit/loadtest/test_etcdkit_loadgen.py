# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Pure parts of the load generator (roles/loadtest/files/etcdkit_loadgen.py): wire encoding, percentiles, the
rate limiter, argument validation and the endpoint checks."""

import importlib.util
import os

import pytest

_PATH = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'loadtest', 'files',
                                     'etcdkit_loadgen.py'))
_spec = importlib.util.spec_from_file_location('etcdkit_loadgen', _PATH)
lg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lg)

os.environ.setdefault('PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION', 'python')
rpc_pb2 = pytest.importorskip('etcd3.etcdrpc.rpc_pb2')


# ------------------------------------------------------------------ wire format, checked against etcd's own .proto
# (python-etcd3 ships stubs generated from etcd's rpc.proto: an independent encoder/decoder of the same messages)

@pytest.mark.parametrize('key,value', [
    (b'/k', b''), (b'/etcdkit-loadgen/000001', b'v' * 256), (b'\x00\xff' * 100, b'x' * 70000), (b'k', b'\x00'),
])
def test_put_request_matches_protobuf(key, value):
    msg = rpc_pb2.PutRequest()
    msg.ParseFromString(lg.encode_put(key, value))
    assert (msg.key, msg.value) == (key, value)
    assert lg.encode_put(key, value) == rpc_pb2.PutRequest(key=key, value=value).SerializeToString()


@pytest.mark.parametrize('kw', [
    dict(), dict(serializable=True), dict(range_end=b'/p0', count_only=True), dict(limit=300, range_end=b'\0'),
])
def test_range_request_matches_protobuf(kw):
    msg = rpc_pb2.RangeRequest()
    msg.ParseFromString(lg.encode_range(b'/p/', **kw))
    assert msg.key == b'/p/'
    assert msg.range_end == kw.get('range_end', b'')
    assert msg.serializable == kw.get('serializable', False)
    assert msg.count_only == kw.get('count_only', False)
    assert msg.limit == kw.get('limit', 0)


def test_delete_and_authenticate_requests_match_protobuf():
    d = rpc_pb2.DeleteRangeRequest()
    d.ParseFromString(lg.encode_delete_range(b'/a/', b'/a0'))
    assert (d.key, d.range_end) == (b'/a/', b'/a0')
    a = rpc_pb2.AuthenticateRequest()
    a.ParseFromString(lg.encode_authenticate('root', 'pä ss'))
    assert (a.name, a.password) == ('root', 'pä ss')


def test_responses_decoded_like_protobuf():
    hdr = rpc_pb2.ResponseHeader(cluster_id=2 ** 63 + 5, member_id=0xcd9509dfa920c124, revision=123456789, raft_term=7)
    st = rpc_pb2.StatusResponse(header=hdr, version='3.5.1', dbSize=142127104, leader=0xc806742395d0df0,
                                raftIndex=99)
    # dbSizeInUse (field 9, etcd >= 3.4) is newer than python-etcd3's copy of the .proto: appended by hand
    assert lg.decode_status(st.SerializeToString() + b'\x48\x80\x20') == {
        'member_id': 'cd9509dfa920c124', 'revision': 123456789, 'version': '3.5.1', 'db_size': 142127104,
        'db_size_in_use': 4096, 'leader': 'c806742395d0df0'}
    assert lg.decode_range_count(rpc_pb2.RangeResponse(header=hdr, count=42, more=True).SerializeToString()) == 42
    assert lg.decode_range_count(rpc_pb2.RangeResponse(header=hdr).SerializeToString()) == 0
    assert lg.decode_deleted(rpc_pb2.DeleteRangeResponse(header=hdr, deleted=5000).SerializeToString()) == 5000
    assert lg.decode_token(rpc_pb2.AuthenticateResponse(header=hdr, token='abc.12').SerializeToString()) == 'abc.12'


@pytest.mark.parametrize('data', [b'\x0a\x05ab', b'\x80', b'\x0b', b'\xff' * 11])
def test_decode_rejects_malformed(data):
    with pytest.raises(ValueError):
        lg.decode_fields(data)


@pytest.mark.parametrize('prefix,end', [
    (b'/a/', b'/a0'), (b'a', b'b'), (b'a\xff', b'b'), (b'\xff\xff', b'\0'), (b'/etcdkit-loadgen/', b'/etcdkit-loadgen0'),
])
def test_prefix_range_end(prefix, end):
    assert lg.prefix_range_end(prefix) == end


def test_make_key_has_the_requested_size():
    assert lg.make_key(b'/p/', 7, 10) == b'/p/0000007'
    assert len(lg.make_key(b'/etcdctl-check-perf/', 123, 276)) == 276


# ------------------------------------------------------------------------------------------------- percentiles

@pytest.mark.parametrize('vals,p,expected', [
    ([], 50, None),
    ([5.0], 99, 5.0),
    (list(range(1, 101)), 50, 50), (list(range(1, 101)), 90, 90), (list(range(1, 101)), 99, 99),
    (list(range(1, 101)), 100, 100), (list(range(1, 101)), 0, 1),
    (list(range(1, 1001)), 99, 990), (list(range(1, 11)), 99, 10), (list(range(1, 11)), 50, 5),
    ([1, 2, 3], 50, 2), ([1, 2], 50, 1), ([1, 2], 51, 2),
])
def test_percentile_nearest_rank(vals, p, expected):
    assert lg.percentile(vals, p) == expected


def test_latency_summary_in_ms():
    s = lg.latency_summary([0.001 * i for i in range(100, 0, -1)])
    assert s == {'count': 100, 'p50_ms': 50.0, 'p90_ms': 90.0, 'p99_ms': 99.0, 'max_ms': 100.0, 'mean_ms': 50.5}
    assert lg.latency_summary([])['p99_ms'] is None


# ------------------------------------------------------------------------------------------------ rate limiter

def test_rate_limiter_fixed_schedule_without_catch_up_burst():
    r = lg.RateLimiter(100, start=10.0)
    assert [r.reserve(10.0) for _i in range(3)] == pytest.approx([10.0, 10.01, 10.02])
    # the caller falls 1 s behind: it goes at once, and the schedule restarts from there (no burst of 100)
    assert r.reserve(11.0) == pytest.approx(11.0)
    assert r.reserve(11.0) == pytest.approx(11.01)


def test_rate_limiter_unlimited_and_ticks():
    assert lg.RateLimiter(0, start=0.0).reserve(5.5) == 5.5
    r = lg.RateLimiter(1000, start=0.0, tick=0.005)
    slots = [r.reserve(0.0) for _i in range(12)]
    # 1 ms slots released on a 5 ms grid: 0, then 5 at 5 ms, 5 at 10 ms, ...; the average rate is unchanged
    assert slots == pytest.approx([0.0] + [0.005] * 5 + [0.010] * 5 + [0.015])


# ---------------------------------------------------------------------------------- endpoints and arguments

@pytest.mark.parametrize('url,allowed,expected', [
    ('http://127.0.26.1:2379', [], ('127.0.26.1', 2379, False)),
    ('https://127.0.0.1', [], ('127.0.0.1', 2379, True)),
    ('https://localhost:23790', [], ('localhost', 23790, True)),
    ('https://[::1]:2379', [], ('::1', 2379, True)),
    ('https://10.0.0.5:2379', ['10.0.0.5', '10.0.0.6'], ('10.0.0.5', 2379, True)),
    ('https://ETCD1.example:2379', ['etcd1.example'], ('etcd1.example', 2379, True)),
])
def test_endpoint_accepted(url, allowed, expected):
    assert lg.check_endpoint(url, allowed) == expected


@pytest.mark.parametrize('url,allowed,word', [
    ('https://10.0.0.5:2379', [], 'neither loopback nor an inventory'),
    ('https://10.0.0.5:2379', ['10.0.0.6'], 'neither loopback nor an inventory'),
    ('https://8.8.8.8:2379', ['8.8.8.80'], 'neither loopback'),
    ('https://127.0.0.1.evil.example:2379', [], 'neither loopback'),
    ('https://localhost.example:2379', [], 'neither loopback'),
    ('ftp://127.0.0.1:2379', [], 'expected http(s)'),
    ('127.0.0.1:2379', [], 'expected http(s)'),
    ('https://127.0.0.1:2379/v3', [], 'only scheme, host and port'),
    ('https://user@127.0.0.1:2379', [], 'only scheme, host and port'),
    ('https://127.0.0.1:99999', [], 'bad port'),
])
def test_endpoint_refused(url, allowed, word):
    with pytest.raises(ValueError, match=word.replace('(', r'\(').replace(')', r'\)')):
        lg.check_endpoint(url, allowed)


GOOD = ['--endpoints', 'http://127.0.26.1:2379,http://127.0.26.2:2379', '--count', '100', '--duration', '5']


def problems(*extra, env=None):
    args = lg.parser().parse_args(GOOD + list(extra))
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        return lg.validate(args)
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_good_arguments():
    assert problems() == []
    assert problems('--rate', '500', '--read-ratio', '0.3', '--key-size', '276', '--value-size', '1024') == []


@pytest.mark.parametrize('extra,word', [
    (['--count', '0'], '--count'), (['--count', str(lg.MAX_COUNT + 1)], '--count'),
    (['--duration', '0'], '--duration'), (['--duration', str(lg.MAX_DURATION + 1)], '--duration'),
    (['--clients', '0'], '--clients'), (['--connections', '0'], '--connections'),
    (['--read-ratio', '1.5'], '--read-ratio'), (['--rate', '-1'], '--rate'),
    (['--value-size', '-1'], '--value-size'), (['--timeout', '0'], '--timeout'),
    (['--prefix', '/'], '--prefix'), (['--prefix', ''], '--prefix'), (['--prefix', '//'], '--prefix'),
    (['--key-size', '5'], '--key-size'), (['--key-size', '19', '--keyspace', '1000'], '--keyspace'),
    (['--cert', 'a.crt'], '--cert and --key'), (['--user', 'root'], '--password-env'),
    (['--endpoints', 'https://127.0.0.1:2379'], '--cacert'),
    (['--endpoints', 'http://127.0.0.1:2379,https://127.0.0.2:2379', '--cacert', 'x'], 'mix of http and https'),
    (['--endpoints', 'https://192.168.1.1:2379', '--cacert', 'x'], 'neither loopback'),
    (['--endpoints', ','], 'at least one endpoint'),
])
def test_bad_arguments(extra, word):
    found = problems(*extra)
    assert any(word in p for p in found), found


def test_password_comes_from_the_environment():
    assert problems('--user', 'root', env={'ETCDKIT_LOADGEN_PASSWORD': 's3cret'}) == []
    assert problems('--user', 'root', '--password-env', 'MYPW', env={'MYPW': 'x'}) == []


def test_allowed_hosts_admit_inventory_addresses():
    assert problems('--endpoints', 'https://10.1.2.3:2379', '--cacert', 'ca', '--allowed-hosts', '10.1.2.3') == []


def test_main_refuses_bad_arguments_with_status_2(capsys):
    assert lg.main(['--endpoints', 'http://10.9.9.9:2379', '--count', '1', '--duration', '1']) == 2
    assert 'neither loopback' in capsys.readouterr().err


def _result(**kw):
    r = {
        'arguments': {'endpoints': 'http://127.0.0.1:2379,http://127.0.0.2:2379', 'connections': 1, 'clients': 8,
                      'rate': 500.0, 'read_ratio': 0.25, 'key_size': 32, 'value_size': 256, 'prefix': '/lg/'},
        'acknowledged': {'writes': 750, 'reads': 250, 'total': 1000}, 'wall_s': 2.0, 'failed': 3,
        'errors': {'UNAVAILABLE: connection refused': 3},
        'throughput_per_s': {'writes': 375.0, 'reads': 125.0, 'total': 500.0},
        'latency': {'write': lg.latency_summary([0.002] * 750), 'read': lg.latency_summary([])},
        'client_cpu_s': {'total': 0.5, 'user': 0.4, 'system': 0.1}, 'cpu_s_per_1000_writes': 0.6667,
        'members_before': {'127.0.0.1:2379': {'db_size': 1000}, '127.0.0.2:2379': {'error': 'UNAVAILABLE: x'}},
        'members_after': {'127.0.0.1:2379': {'db_size': 5096}, '127.0.0.2:2379': {'db_size': 5096}},
        'cleanup': {'prefix': '/lg/', 'deleted': 750}}
    r['db_size_growth_bytes'] = lg._db_growth(r['members_before'], r['members_after'])
    r.update(kw)
    return r


def test_db_growth_only_for_members_seen_before_and_after():
    assert _result()['db_size_growth_bytes'] == {'127.0.0.1:2379': 4096}


def test_human_report_lines():
    text = lg.human(_result())
    assert 'rate 500 ops/s' in text and 'read ratio 0.25' in text
    assert 'acknowledged: 750 writes, 250 reads in 2.00 s (375.0 writes/s, 125.0 reads/s); failed: 3' in text
    assert 'write latency ms: p50 2.00  p90 2.00  p99 2.00  max 2.00' in text
    assert 'read  latency' not in text  # no reads answered: no read line
    assert 'error x3: UNAVAILABLE: connection refused' in text
    assert 'db size 127.0.0.1:2379: 1000 -> 5096 bytes (+4096)' in text
    assert 'cleanup /lg/: 750 keys deleted' in text
    text = lg.human(_result(cleanup={'prefix': '/lg/', 'error': 'DEADLINE_EXCEEDED: slow'}))
    assert 'cleanup /lg/: DEADLINE_EXCEEDED: slow' in text
    assert 'cleanup' not in lg.human(_result(cleanup=None))
