# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""etcd_user against the real test cluster (TLS + client-cert auth + etcd auth).

Passwords are checked independently with etcdctl (gRPC, the password as one argv element, never through a shell)."""
import subprocess
import uuid

from conftest import assert_clean_failure


def etcdctl_login(cluster, user, password):
    """Whether etcdctl can authenticate as ``user`` with ``password`` (by reading a key)."""
    cmd = [str(cluster.bin_dir / 'etcdctl'), '--endpoints', cluster.endpoints[0], '--cacert', cluster.ca_cert,
           '--cert', cluster.client_cert, '--key', cluster.client_key, '--user', user, '--password', password,
           '--command-timeout', '20s', 'get', '/it/login-probe']
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if res.returncode == 0 or 'permission denied' in res.stderr:
        return True  # logged in (a user without a role on the key may not read it)
    assert 'authentication failed' in res.stderr, res.stderr
    return False


def user_roles(cluster, name):
    user = cluster.client().user_get(name)
    return None if user is None else user['roles']


def test_user_lifecycle(etcd_cluster, run_module):
    conn = etcd_cluster.connection
    name = 'it-user-%s' % uuid.uuid4().hex[:6]
    role_a, role_b = name + '-a', name + '-b'
    password = 'correct horse  battery staple '  # spaces inside and at the end
    client = etcd_cluster.client()
    client.role_add(role_a)
    client.role_add(role_b)
    try:
        # check mode + diff: predicts, creates nothing, never shows the password
        run = run_module('etcd_user', dict(conn, name=name, user_password=password, roles=[role_a]), check=True,
                         diff=True)
        assert not run.failed and run.changed and run['password_changed'], run
        assert run.diff[0]['before'] == {} and run.diff[0]['after']['roles'] == [role_a]
        assert password not in run.output and 'battery' not in run.output
        assert user_roles(etcd_cluster, name) is None

        run = run_module('etcd_user', dict(conn, name=name, user_password=password, roles=[role_a]))
        assert not run.failed and run.changed and run['user'] == {'name': name, 'roles': [role_a]}, run
        assert 'battery' not in run.output
        assert user_roles(etcd_cluster, name) == [role_a]
        assert etcdctl_login(etcd_cluster, name, password)
        assert not etcdctl_login(etcd_cluster, name, password.strip())

        # idempotent: the password is verified by authenticating, not reset
        run = run_module('etcd_user', dict(conn, name=name, user_password=password, roles=[role_a]), diff=True)
        assert not run.failed and not run.changed and run['password_verified'] and not run['password_changed'], run

        # password change (check mode first)
        new_password = 'new pass word %s' % uuid.uuid4().hex[:4]
        run = run_module('etcd_user', dict(conn, name=name, user_password=new_password), check=True, diff=True)
        assert run.changed and run['password_changed'] and run.diff[0]['after']['password'] == '(new)', run
        assert etcdctl_login(etcd_cluster, name, password)
        run = run_module('etcd_user', dict(conn, name=name, user_password=new_password))
        assert run.changed and run['password_changed'] and not run.failed, run
        assert etcdctl_login(etcd_cluster, name, new_password) and not etcdctl_login(etcd_cluster, name, password)
        run = run_module('etcd_user', dict(conn, name=name, user_password=new_password))
        assert not run.changed, run

        # update_password=on_create: an existing user's password is left alone
        run = run_module('etcd_user', dict(conn, name=name, user_password='other', update_password='on_create'))
        assert not run.changed and not run['password_verified'], run
        assert etcdctl_login(etcd_cluster, name, new_password)

        # roles: additive, then exclusive
        run = run_module('etcd_user', dict(conn, name=name, roles=[role_b]))
        assert run.changed and user_roles(etcd_cluster, name) == sorted([role_a, role_b]), run
        run = run_module('etcd_user', dict(conn, name=name, roles=[role_b]))
        assert not run.changed, run
        run = run_module('etcd_user', dict(conn, name=name, roles=[role_b], exclusive_roles=True), check=True,
                         diff=True)
        assert run.changed and run.diff[0]['after']['roles'] == [role_b], run
        assert user_roles(etcd_cluster, name) == sorted([role_a, role_b])
        run = run_module('etcd_user', dict(conn, name=name, roles=[role_b], exclusive_roles=True))
        assert run.changed and user_roles(etcd_cluster, name) == [role_b], run
        run = run_module('etcd_user', dict(conn, name=name, roles=[], exclusive_roles=True))
        assert run.changed and user_roles(etcd_cluster, name) == [], run
        run = run_module('etcd_user', dict(conn, name=name, roles=[], exclusive_roles=True))
        assert not run.changed, run

        # deletion
        run = run_module('etcd_user', dict(conn, name=name, state='absent'), check=True)
        assert run.changed and user_roles(etcd_cluster, name) == []
        run = run_module('etcd_user', dict(conn, name=name, state='absent'))
        assert run.changed and user_roles(etcd_cluster, name) is None, run
        run = run_module('etcd_user', dict(conn, name=name, state='absent'))
        assert not run.changed and not run.failed, run
    finally:
        etcd_cluster.etcdctl('user', 'delete', name, check=False)
        etcd_cluster.etcdctl('role', 'delete', role_a, check=False)
        etcd_cluster.etcdctl('role', 'delete', role_b, check=False)


def test_root_user_not_reset(etcd_cluster, run_module):
    """The cluster's own root user: same password -> verified, unchanged (the old role reset it on every run)."""
    conn = etcd_cluster.connection
    run = run_module('etcd_user', dict(conn, name='root', user_password=etcd_cluster.password, roles=['root']))
    assert not run.failed and not run.changed and run['password_verified'], run
    assert etcdctl_login(etcd_cluster, 'root', etcd_cluster.password)


def test_cert_only_user(etcd_cluster, run_module):
    conn = etcd_cluster.connection
    name = 'it-cert-%s' % uuid.uuid4().hex[:6]
    try:
        run = run_module('etcd_user', dict(conn, name=name, no_password=True))
        assert run.changed and not run.failed and not run['password_changed'], run
        assert user_roles(etcd_cluster, name) == []
        assert not etcd_cluster.client().authenticate(name, 'any password')
        run = run_module('etcd_user', dict(conn, name=name, no_password=True))
        assert not run.changed, run
        # etcd keeps a no_password user without password: the module says so instead of "changing" it every run
        run = run_module('etcd_user', dict(conn, name=name, user_password='late password'))
        assert run.failed and 'no_password' in run.msg and 'Traceback' not in run.output, run
    finally:
        etcd_cluster.etcdctl('user', 'delete', name, check=False)


def test_user_bad_input(etcd_cluster, run_modules):
    conn = etcd_cluster.connection
    name = 'it-bad-%s' % uuid.uuid4().hex[:6]
    secret = 'bad-input-secret-%s' % uuid.uuid4().hex[:6]
    cases = [
        (dict(conn, name=name), ['user_password', 'no_password']),
        (dict(conn, name=name, user_password=secret, no_password=True), ['exclude']),
        (dict(conn, name=name, user_password=''), ['user_password must not be empty']),
        (dict(conn, name=name, user_password=secret, exclusive_roles=True), ['exclusive_roles', 'roles']),
        (dict(conn, name=name, user_password=secret, roles=['it-no-such-role']), ['it-no-such-role', 'etcd_role']),
        (dict(conn, name=name, state='absent', user_password=secret), ['state=present']),
        (dict(conn, name=''), ['user name']),
        (dict(conn, name=name, user_password=secret, update_password='never'), ['update_password']),
        (dict(conn, name='root', state='absent'), ['root user', 'disable']),
        (dict(conn, name='root', roles=[], exclusive_roles=True), ['root role']),
        (dict(conn, name=name, user_password=secret, password='wrong'), ['authentication', 'password']),
        (dict(conn, name=name, user_password=secret, user=None, password=None), ['user and password']),
    ]
    runs = run_modules([('etcd_user', case[0]) for case in cases]
                       + [('etcd_user', dict(conn, name=name, user_password=secret, roles=['it-no-such-role']),
                           {'check': True})])
    check_run = runs.pop()
    assert not check_run.failed and check_run.changed, check_run
    assert any('it-no-such-role' in w for w in check_run.get('warnings', [])), check_run
    for case, run in zip(cases, runs):
        assert_clean_failure(run, *case[1])
    assert secret not in runs[0].output
    assert user_roles(etcd_cluster, name) is None
    assert user_roles(etcd_cluster, 'root') == ['root']
