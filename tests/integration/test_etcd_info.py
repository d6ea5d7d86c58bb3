# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
from conftest import assert_clean_failure


def test_info_reports_healthy_cluster(etcd_cluster, run_module):
    run = run_module('etcd_info', etcd_cluster.connection)
    assert not run.failed, run
    assert run.changed is False
    r = run.result
    listing = etcd_cluster.etcdctl_json('member', 'list')
    assert r['cluster_id'] == '%016x' % listing['header']['cluster_id']
    assert sorted(m['name'] for m in r['members']) == ['etcd1', 'etcd2', 'etcd3']
    assert all(m['healthy'] and not m['is_learner'] for m in r['members'])
    assert r['quorum'] == {'voting': 3, 'healthy_voting': 3, 'required': 2, 'ok': True}
    assert r['alarms'] == []
    assert r['problems'] == []
    eps = {e['endpoint']: e for e in r['endpoints']}
    assert set(eps) == set(etcd_cluster.endpoints)
    leaders = [e for e in eps.values() if e['is_leader']]
    assert len(leaders) == 1 and leaders[0]['member_id'] == r['leader_id']
    status = etcd_cluster.etcdctl_json('endpoint', 'status')
    leader_hex = '%016x' % status[0]['Status']['leader']
    assert r['leader_id'] == leader_hex
    for e in eps.values():
        assert e['healthy'] and e['version'] == etcd_cluster.version
        assert e['db_size'] > 0 and e['db_size_in_use'] > 0
        assert e['raft_term'] >= 1 and e['raft_index'] >= e['raft_applied_index'] - 5 and e['errors'] == []


def test_info_gate_passes_and_check_mode(etcd_cluster, run_module):
    run = run_module('etcd_info', dict(etcd_cluster.connection, fail_on_unhealthy=True), check=True)
    assert not run.failed and not run.changed, run


def test_info_probes_members_from_one_endpoint(etcd_cluster, run_module):
    args = dict(etcd_cluster.connection, endpoints=etcd_cluster.endpoints[:1])
    run = run_module('etcd_info', args)
    assert not run.failed, run
    assert len(run['endpoints']) == 3 and run['quorum']['healthy_voting'] == 3
    run = run_module('etcd_info', dict(args, probe_members=False))
    assert len(run['endpoints']) == 1 and run['quorum']['healthy_voting'] == 1 and not run['quorum']['ok']


def test_info_gate_fails_with_unreachable_endpoint(etcd_cluster, run_module):
    dead = 'https://%s:2379' % etcd_cluster.ip(9)
    args = dict(etcd_cluster.connection, endpoints=etcd_cluster.endpoints + [dead], timeout=3)
    run = run_module('etcd_info', args)
    assert not run.failed, run
    assert any(dead in p for p in run['problems'])
    run = run_module('etcd_info', dict(args, fail_on_unhealthy=True))
    assert_clean_failure(run, 'not healthy', dead, 'connect')
    assert run['quorum']['ok'] is True  # the result is still there


def test_info_bad_inputs(etcd_cluster, run_module, run_modules):
    conn = etcd_cluster.connection
    cases = [
        (dict(conn, password='wrong'), ['authentication', 'password']),
        (dict(conn, ca_cert=etcd_cluster.bad_ca_cert), ['tls', 'ca_cert']),
        (dict(conn, ca_cert='/nonexistent/ca.pem'), ['ca_cert', 'does not exist']),
        (dict(conn, client_cert=etcd_cluster.bad_client_cert, client_key=etcd_cluster.bad_client_key), ['tls']),
        (dict(conn, client_cert=None, client_key=None), ['tls', 'client_cert']),
        (dict(conn, client_cert=etcd_cluster.cn_cert, client_key=etcd_cluster.cn_key), ['commonname']),
        (dict(conn, endpoints=['https://%s:2379' % etcd_cluster.ip(9)], timeout=3), ['cannot connect']),
        (dict(conn, endpoints=[e.replace('https', 'http') for e in conn['endpoints']]), ['https']),
        (dict(conn, timeout='soon'), ['timeout']),
        (dict(conn, fail_on_unhealthy='maybe'), ['fail_on_unhealthy']),
        (dict(conn, endpoints=['ftp://x']), ['http']),
    ]
    # one playbook for all cases (no Python step between them); each result is checked on its own
    runs = run_modules([('etcd_info', case[0]) for case in cases])
    for (args, words), run in zip(cases, runs):
        assert_clean_failure(run, *words)


def test_info_connection_from_environment(etcd_cluster, run_module):
    env = {
        'ETCDCTL_ENDPOINTS': ','.join(etcd_cluster.endpoints),
        'ETCDCTL_CACERT': etcd_cluster.ca_cert,
        'ETCDCTL_CERT': etcd_cluster.client_cert,
        'ETCDCTL_KEY': etcd_cluster.client_key,
        'ETCDCTL_USER': 'root:%s' % etcd_cluster.password,
    }
    run = run_module('etcd_info', {'fail_on_unhealthy': True}, env=env)
    assert not run.failed, run
    assert sorted(e['endpoint'] for e in run['endpoints']) == sorted(etcd_cluster.endpoints)
    # an explicit option wins over the environment
    run = run_module('etcd_info', {'password': 'wrong', 'user': 'root'}, env=env)
    assert_clean_failure(run, 'authentication')
    # without any endpoint configuration the default https://127.0.0.1:2379 is used (nothing listens there)
    run = run_module('etcd_info', {'timeout': 2}, env={})
    assert_clean_failure(run, '127.0.0.1:2379')


def test_action_group_module_defaults(etcd_cluster, run_module):
    defaults = {'group/etcdkit.etcd.etcd': etcd_cluster.connection}
    run = run_module('etcd_info', {'fail_on_unhealthy': True}, module_defaults=defaults)
    assert not run.failed and run['quorum']['ok'], run
    run = run_module('etcd_key', {'key': '/it/group-defaults', 'state': 'absent'}, module_defaults=defaults)
    assert not run.failed, run


def _version(text):
    return tuple(int(x) for x in text.split('.')[:3])


def test_info_gate_reports_lost_quorum(etcd_cluster, run_module):
    import time
    initial = ','.join('etcd%d=https://%s:2380' % (i, etcd_cluster.ip(i)) for i in (1, 2, 3))
    args = dict(etcd_cluster.connection, timeout=3)
    etcd_cluster.stop_member('etcd2')
    etcd_cluster.stop_member('etcd3')
    try:
        time.sleep(4)  # > election timeout: etcd1 steps down
        run = run_module('etcd_info', args)
        assert not run.failed, run.msg
        assert run['leader_id'] is None
        if _version(etcd_cluster.version) >= (3, 5, 28):
            # CVE-2026-33413 fix: with auth on, maintenance and member list need a user, and authentication is a
            # raft request: without a leader etcd answers nothing but /health
            assert run['members'] == [] and run['cluster_id'] is None, run
            assert run['quorum'] == {'voting': 0, 'healthy_voting': 0, 'required': 0, 'ok': False}, run
            names = [etcd_cluster.ip(2), etcd_cluster.ip(3), 'members could not be listed']
        else:
            assert run['quorum'] == {'voting': 3, 'healthy_voting': 0, 'required': 2, 'ok': False}, run
            assert len(run['members']) == 3
            names = ['etcd2', 'etcd3']
        run = run_module('etcd_info', dict(args, fail_on_unhealthy=True))
        assert_clean_failure(run, 'no healthy quorum', 'no member knows a leader', *names)
        # a change needs a leader: clean message, nothing changed
        run = run_module('etcd_key', dict(args, key='/it/no-leader', value='x'))
        assert_clean_failure(run)
        assert 'leader' in run.msg.lower() or 'timed out' in run.msg.lower() or 'authentication' in run.msg.lower()
    finally:
        for name in ('etcd2', 'etcd3'):
            i = int(name[-1])
            etcd_cluster.start_member(name, etcd_cluster.ip(i), initial, state='new')
    etcd_cluster.wait_healthy()
    assert etcd_cluster.client().get('/it/no-leader') is None
