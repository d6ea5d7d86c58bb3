# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
import uuid

from conftest import assert_clean_failure


def _get(cluster, key):
    kv = cluster.client().get(key)
    return None if kv is None else kv['value']


def test_key_set_idempotent_check_diff(etcd_cluster, run_module):
    key = '/it/key-%s' % uuid.uuid4().hex[:8]
    conn = etcd_cluster.connection
    run = run_module('etcd_key', dict(conn, key=key, value='one'), check=True, diff=True)
    assert not run.failed and run.changed, run
    assert run.diff and run.diff[0]['after'] == 'one\n' and run.diff[0]['before'] == ''
    assert _get(etcd_cluster, key) is None

    run = run_module('etcd_key', dict(conn, key=key, value='one'))
    assert run.changed and not run.failed and run['prev_value'] is None, run
    assert _get(etcd_cluster, key) == 'one'
    rev = etcd_cluster.client().get(key)['mod_revision']
    assert run['revision'] == rev

    run = run_module('etcd_key', dict(conn, key=key, value='one'))
    assert not run.changed and not run.failed, run
    assert etcd_cluster.client().get(key)['mod_revision'] == rev

    run = run_module('etcd_key', dict(conn, key=key, value='two'), check=True, diff=True)
    assert run.changed and run.diff[0]['before'] == 'one\n' and run.diff[0]['after'] == 'two\n', run
    assert _get(etcd_cluster, key) == 'one'

    run = run_module('etcd_key', dict(conn, key=key, value='two'))
    assert run.changed and run['prev_value'] == 'one'
    assert _get(etcd_cluster, key) == 'two'

    run = run_module('etcd_key', dict(conn, key=key, state='absent'), check=True)
    assert run.changed and run['deleted'] == [key]
    assert _get(etcd_cluster, key) == 'two'
    run = run_module('etcd_key', dict(conn, key=key, state='absent'))
    assert run.changed and run['prev_value'] == 'two'
    assert _get(etcd_cluster, key) is None
    run = run_module('etcd_key', dict(conn, key=key, state='absent'))
    assert not run.changed and run['deleted'] == []


def test_key_unicode_and_prefix_delete(etcd_cluster, run_module):
    base = '/it/pfx-%s/' % uuid.uuid4().hex[:8]
    conn = etcd_cluster.connection
    client = etcd_cluster.client()
    for name in ('a', 'b', 'c/d'):
        client.put(base + name, 'v-' + name)
    client.put(base[:-1] + '0', 'outside')  # shares the text prefix without the slash
    run = run_module('etcd_key', dict(conn, key=base + 'ü', value='grün ✓'))
    assert run.changed
    assert _get(etcd_cluster, base + 'ü') == 'grün ✓'
    run = run_module('etcd_key', dict(conn, key=base, prefix=True, state='absent'), check=True, diff=True)
    assert run.changed and len(run['deleted']) == 4 and 'grün' in run.diff[0]['before']
    assert client.range(base, prefix=True)['count'] == 4
    run = run_module('etcd_key', dict(conn, key=base, prefix=True, state='absent'))
    assert run.changed and sorted(run['deleted']) == sorted(base + n for n in ('a', 'b', 'c/d', 'ü'))
    assert client.range(base, prefix=True)['count'] == 0
    assert _get(etcd_cluster, base[:-1] + '0') == 'outside'
    run = run_module('etcd_key', dict(conn, key=base, prefix=True, state='absent'))
    assert not run.changed
    client.delete(base[:-1] + '0')


def test_key_bad_input(etcd_cluster, run_module, run_modules):
    key = '/it/bad-%s' % uuid.uuid4().hex[:8]
    conn = etcd_cluster.connection
    cases = [
        (dict(conn, key=key), ['value']),
        (dict(conn, key='', value='x'), ['empty']),
        (dict(conn, key=key, value='x', prefix=True), ['prefix', 'state=absent']),
        (dict(conn, key=key, value='x', state='gone'), ['state']),
        (dict(conn, key=key, value='x', password='wrong'), ['authentication', 'password']),
        (dict(conn, key=key, value='x', user=None, password=None), ['user and password']),
        (dict(conn, key=key, value='x', ca_cert=etcd_cluster.bad_ca_cert), ['tls']),
        (dict(conn, key=key, value='x', endpoints=['https://%s:2379' % etcd_cluster.ip(9)], timeout=3),
         ['cannot connect']),
        (dict(conn, key=key, value='x', timeout=[1]), ['timeout']),
    ]
    # one playbook for all cases (no Python step between them); each result is checked on its own
    runs = run_modules([('etcd_key', case[0]) for case in cases])
    for (args, words), run in zip(cases, runs):
        assert_clean_failure(run, *words)
    assert _get(etcd_cluster, key) is None


def test_key_permission_denied(etcd_cluster, run_module):
    user = 'it-reader-%s' % uuid.uuid4().hex[:6]
    etcd_cluster.etcdctl('user', 'add', user, '--new-user-password', 'readerpw')
    try:
        run = run_module('etcd_key', dict(etcd_cluster.connection, user=user, password='readerpw',
                                          key='/it/denied', value='x'))
        assert_clean_failure(run, 'permission denied')
        assert _get(etcd_cluster, '/it/denied') is None
    finally:
        etcd_cluster.etcdctl('user', 'delete', user)
