# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""etcd_auth (and etcd_user/etcd_role while auth is disabled) on a fresh one-member cluster WITHOUT etcd auth
(TLS + client-cert auth, the same CA as the session cluster), then on the session cluster (auth on)."""
import subprocess
import time
import uuid

import pytest

from conftest import assert_clean_failure

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient, EtcdError

ROOT_PASSWORD = 'root pass with  spaces %s' % uuid.uuid4().hex[:6]


@pytest.fixture(scope='module')
def solo(etcd_cluster):
    """A one-member cluster without auth on host 11 of this worker's net; stopped and removed afterwards."""
    name = 'solo-auth'
    ip = etcd_cluster.ip(11)
    member = etcd_cluster.start_member(name, ip, '%s=https://%s:2380' % (name, ip), state='new')
    try:
        client = EtcdClient([member.client_url], ca_cert=etcd_cluster.ca_cert, client_cert=etcd_cluster.client_cert,
                            client_key=etcd_cluster.client_key, timeout=5)
        deadline = time.time() + 60
        while True:
            try:
                if client.status(member.client_url)['leader_id']:
                    break
            except EtcdError:
                pass
            assert member.running, member.log.read_text()[-3000:]
            assert time.time() < deadline, 'solo etcd has no leader: %s' % member.log.read_text()[-3000:]
            time.sleep(0.3)
        yield member
    finally:
        etcd_cluster.stop_member(name)
        etcd_cluster.remove_data(name)


def conn_of(cluster, member, user=None, password=None):
    conn = dict(endpoints=[member.client_url], ca_cert=cluster.ca_cert, client_cert=cluster.client_cert,
                client_key=cluster.client_key)
    if user:
        conn.update(user=user, password=password)
    return conn


def auth_enabled(cluster, member):
    """Independent check with etcdctl (gRPC): `auth status` without credentials."""
    cmd = [str(cluster.bin_dir / 'etcdctl'), '--endpoints', member.client_url, '--cacert', cluster.ca_cert,
           '--cert', cluster.client_cert, '--key', cluster.client_key, '--command-timeout', '20s', 'put',
           '/it/auth-probe', 'x']
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if res.returncode == 0:
        return False
    assert 'user name is empty' in res.stderr or 'permission denied' in res.stderr, res.stderr
    return True


def test_enable_auth_on_cluster_without_auth(etcd_cluster, solo, run_module, run_modules):
    cluster = etcd_cluster
    anon = conn_of(cluster, solo)
    as_root = conn_of(cluster, solo, 'root', ROOT_PASSWORD)
    assert not auth_enabled(cluster, solo)

    # already disabled: nothing to do
    run = run_module('etcd_auth', dict(anon, state='disabled'))
    assert not run.failed and not run.changed and run['enabled'] is False, run

    # no root user: enabling fails, naming what to create, and changes nothing; in check mode that is a warning
    # (an earlier task that would create root was only simulated)
    runs = run_modules([('etcd_auth', anon), ('etcd_auth', anon, {'check': True})])
    assert_clean_failure(runs[0], 'user root does not exist', 'etcd_user')
    assert not runs[1].failed and runs[1].changed, runs[1]
    assert any('user root does not exist' in w for w in runs[1].get('warnings', [])), runs[1]
    assert not auth_enabled(cluster, solo)

    # root user without the root role; the connection already names root (no token is needed while auth is off)
    run = run_module('etcd_user', dict(as_root, name='root', user_password=ROOT_PASSWORD))
    assert run.changed and not run.failed and run['auth_enabled'] is False, run
    run = run_module('etcd_auth', as_root)
    assert_clean_failure(run, 'does not have the root role')
    assert not auth_enabled(cluster, solo)

    # while auth is disabled an existing user's password cannot be verified: left alone, with a warning
    run = run_module('etcd_user', dict(as_root, name='root', user_password='some other password', roles=['root']))
    assert run.changed and not run.failed and not run['password_changed'] and not run['password_verified'], run
    assert run['actions'] == ['grant_role root'], run
    assert any('authentication is enabled' in w for w in run.get('warnings', [])), run
    run = run_module('etcd_user', dict(as_root, name='root', user_password=ROOT_PASSWORD, roles=['root']))
    assert not run.changed, run

    # an application role and user, created before auth is on
    run = run_module('etcd_role', dict(as_root, name='app', permissions=[{'key': '/service/app/', 'prefix': True}]))
    assert run.changed and not run.failed, run
    run = run_module('etcd_user', dict(as_root, name='app', user_password='app pw', roles=['app']))
    assert run.changed and not run.failed, run

    # enable: check mode predicts and changes nothing, then enable, then idempotent
    run = run_module('etcd_auth', as_root, check=True, diff=True)
    assert run.changed and run['enabled'] is True and run.diff[0] == {'before': {'enabled': False},
                                                                      'after': {'enabled': True}}, run
    assert not auth_enabled(cluster, solo)
    run = run_module('etcd_auth', as_root)
    assert run.changed and not run.failed and run['enabled'] is True, run
    assert auth_enabled(cluster, solo)
    run = run_module('etcd_auth', as_root)
    assert not run.changed and not run.failed, run

    # now passwords are verified: root's password with spaces is kept, not reset on every run
    run = run_module('etcd_user', dict(as_root, name='root', user_password=ROOT_PASSWORD, roles=['root']))
    assert not run.changed and run['password_verified'] and not run.get('warnings'), run
    # and the application user is limited to its prefix
    app = EtcdClient([solo.client_url], ca_cert=cluster.ca_cert, client_cert=cluster.client_cert,
                     client_key=cluster.client_key, user='app', password='app pw', timeout=5)
    app.put('/service/app/x', 'ok')
    with pytest.raises(EtcdError) as err:
        app.put('/service/other', 'no')
    assert err.value.kind == 'permission'

    # bad input while enabled: deleting root, revoking root's root role, disabling without root credentials
    runs = run_modules([
        ('etcd_user', dict(as_root, name='root', state='absent')),
        ('etcd_role', dict(as_root, name='root', state='absent')),
        ('etcd_auth', dict(as_root, state='disabled', password='wrong')),
        ('etcd_auth', dict(conn_of(cluster, solo, 'app', 'app pw'), state='disabled')),
    ])
    assert_clean_failure(runs[0], 'root user')
    assert_clean_failure(runs[1], 'root role')
    assert_clean_failure(runs[2], 'authentication')
    assert_clean_failure(runs[3], 'permission')
    assert auth_enabled(cluster, solo)

    # disable (check mode first), then idempotent
    run = run_module('etcd_auth', dict(as_root, state='disabled'), check=True)
    assert run.changed and run['enabled'] is False and auth_enabled(cluster, solo), run
    run = run_module('etcd_auth', dict(as_root, state='disabled'))
    assert run.changed and not run.failed and run['enabled'] is False, run
    assert not auth_enabled(cluster, solo)
    run = run_module('etcd_auth', dict(as_root, state='disabled'))
    assert not run.changed and not run.failed, run


def test_enable_with_wrong_connection_password_reports_change(etcd_cluster, solo, run_module):
    """Enabling works (etcd checks nothing of the caller while auth is off), but the module then proves that it
    can still log in, and fails honestly when it cannot."""
    cluster = etcd_cluster
    as_wrong = conn_of(cluster, solo, 'root', 'not the root password')
    as_root = conn_of(cluster, solo, 'root', ROOT_PASSWORD)
    assert not auth_enabled(cluster, solo)
    run = run_module('etcd_auth', as_wrong)
    assert run.failed and run.changed and 'cannot log in' in run.msg and 'Traceback' not in run.output, run
    assert auth_enabled(cluster, solo)
    run = run_module('etcd_auth', dict(as_root, state='disabled'))
    assert run.changed and not run.failed, run


def test_auth_on_session_cluster(etcd_cluster, run_module):
    conn = etcd_cluster.connection
    run = run_module('etcd_auth', conn, check=True)
    assert not run.changed and not run.failed and run['enabled'] is True, run
    run = run_module('etcd_auth', conn)
    assert not run.changed and not run.failed and run['enabled'] is True, run
    run = run_module('etcd_auth', dict(conn, state='bogus'))
    assert_clean_failure(run, 'state')
