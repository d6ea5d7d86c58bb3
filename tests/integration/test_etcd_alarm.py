# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
import pytest

from conftest import assert_clean_failure


def _activate(cluster, alarm):
    client = cluster.client()
    member_id = client.status(cluster.endpoints[0])['member_id']
    client.call('/v3/maintenance/alarm', {'action': 'ACTIVATE', 'memberID': str(member_id), 'alarm': alarm})
    assert [a['alarm'] for a in client.alarm_list()] == [alarm]
    return '%016x' % member_id


def _alarms(cluster):
    return sorted(a['alarm'] for a in cluster.client().alarm_list())


@pytest.fixture
def alarm_cleanup(etcd_cluster):
    yield
    client = etcd_cluster.client()
    for a in client.alarm_list():
        client.alarm_disarm(a['member_id'], a['alarm'])
    assert client.alarm_list() == []


def test_alarm_listed_empty(etcd_cluster, run_module):
    run = run_module('etcd_alarm', etcd_cluster.connection)
    assert not run.failed and not run.changed and run['alarms'] == [], run
    run = run_module('etcd_alarm', dict(etcd_cluster.connection, state='disarmed'))
    assert not run.failed and not run.changed and run['disarmed'] == [], run


def test_alarm_nospace_disarm(etcd_cluster, run_module, alarm_cleanup):
    conn = etcd_cluster.connection
    member = _activate(etcd_cluster, 'NOSPACE')
    run = run_module('etcd_alarm', conn)
    assert run['alarms'] == [{'member_id': member, 'alarm': 'NOSPACE'}] and not run.changed

    # the database (>= 20 KiB) is above 80% of a 16 KiB quota -> refused, nothing changed
    run = run_module('etcd_alarm', dict(conn, state='disarmed', alarm='NOSPACE', quota_backend_bytes=16384))
    assert_clean_failure(run, 'not disarming', 'NOSPACE', 'defragment')
    assert run['quota_usage'] > 80
    assert _alarms(etcd_cluster) == ['NOSPACE']

    # CORRUPT selected: nothing to do for NOSPACE
    run = run_module('etcd_alarm', dict(conn, state='disarmed', alarm='CORRUPT'))
    assert not run.failed and not run.changed
    assert _alarms(etcd_cluster) == ['NOSPACE']

    run = run_module('etcd_alarm', dict(conn, state='disarmed', alarm='NOSPACE'), check=True)
    assert run.changed and run['disarmed'] == [{'member_id': member, 'alarm': 'NOSPACE'}] and run['alarms'] == []
    assert _alarms(etcd_cluster) == ['NOSPACE']

    run = run_module('etcd_alarm', dict(conn, state='disarmed', alarm='NOSPACE'))
    assert run.changed and not run.failed and run['alarms'] == [] and run['quota_usage'] < 1, run
    assert _alarms(etcd_cluster) == []
    run = run_module('etcd_alarm', dict(conn, state='disarmed', alarm='NOSPACE'))
    assert not run.changed and not run.failed


def test_alarm_nospace_force(etcd_cluster, run_module, alarm_cleanup):
    _activate(etcd_cluster, 'NOSPACE')
    run = run_module('etcd_alarm', dict(etcd_cluster.connection, state='disarmed', quota_backend_bytes=16384,
                                        force=True))
    assert run.changed and not run.failed, run
    assert _alarms(etcd_cluster) == []


def test_alarm_corrupt_needs_force(etcd_cluster, run_module, alarm_cleanup):
    conn = etcd_cluster.connection
    _activate(etcd_cluster, 'CORRUPT')
    for alarm in ('CORRUPT', 'ALL'):
        run = run_module('etcd_alarm', dict(conn, state='disarmed', alarm=alarm))
        assert_clean_failure(run, 'CORRUPT', 'force')
        assert _alarms(etcd_cluster) == ['CORRUPT']
    run = run_module('etcd_alarm', dict(conn, state='disarmed', alarm='CORRUPT', force=True), check=True)
    assert run.changed
    assert _alarms(etcd_cluster) == ['CORRUPT']
    run = run_module('etcd_alarm', dict(conn, state='disarmed', alarm='CORRUPT', force=True))
    assert run.changed and not run.failed
    assert _alarms(etcd_cluster) == []


def test_alarm_bad_input(etcd_cluster, run_module, alarm_cleanup, run_modules):
    conn = etcd_cluster.connection
    _activate(etcd_cluster, 'NOSPACE')
    cases = [
        (dict(conn, state='disarmed', alarm='SPACE'), ['alarm']),
        (dict(conn, state='off'), ['state']),
        (dict(conn, state='disarmed', max_quota_usage=150), ['percentage']),
        (dict(conn, state='disarmed', quota_backend_bytes='lots'), ['quota_backend_bytes']),
        (dict(conn, state='disarmed', password='wrong'), ['authentication']),
        (dict(conn, state='disarmed', client_cert=None, client_key=None), ['tls']),
        (dict(conn, state='disarmed', endpoints=['https://%s:2379' % etcd_cluster.ip(9)], timeout=3),
         ['cannot connect']),
    ]
    # one playbook for all cases (no Python step between them); each result is checked on its own
    runs = run_modules([('etcd_alarm', case[0]) for case in cases])
    for (args, words), run in zip(cases, runs):
        assert_clean_failure(run, *words)
    assert _alarms(etcd_cluster) == ['NOSPACE']
