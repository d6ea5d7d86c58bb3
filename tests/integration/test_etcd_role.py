# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""etcd_role against the real test cluster (TLS + client-cert auth + etcd auth); etcdctl is the independent check."""
import base64
import json
import uuid

from conftest import assert_clean_failure

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdError


def etcdctl_perms(cluster, role):
    """The role's permissions as etcdctl reports them: sorted (type, key, range_end); None when it does not exist."""
    res = cluster.etcdctl('-w', 'json', 'role', 'get', role, check=False)
    if res.returncode != 0:
        assert 'role name not found' in res.stderr, res.stderr
        return None
    names = {0: 'read', 1: 'write', 2: 'readwrite'}
    perms = []
    for perm in json.loads(res.stdout).get('perm') or []:
        perms.append((names[perm.get('permType', 0)], base64.b64decode(perm.get('key', '')).decode(),
                      base64.b64decode(perm.get('range_end', '')).decode()))
    return sorted(perms)


def can(client_as, op, key):
    """Whether the user of ``client_as`` may ``op`` (get/put) ``key``: True, or False on permission denied."""
    try:
        if op == 'put':
            client_as.put(key, 'x')
        else:
            client_as.range(key)
    except EtcdError as err:
        if err.kind == 'permission':
            return False
        raise
    return True


def test_role_prefix_lifecycle(etcd_cluster, run_module):
    conn = etcd_cluster.connection
    role = 'it-app-%s' % uuid.uuid4().hex[:6]
    prefix = '/service/%s/' % role
    app_perm = {'key': prefix, 'prefix': True}
    end = prefix[:-1] + '0'

    # check mode: predicts, creates nothing
    run = run_module('etcd_role', dict(conn, name=role, permissions=[app_perm]), check=True, diff=True)
    assert not run.failed and run.changed, run
    assert run['role'] == {'name': role, 'permissions': [
        {'key': prefix, 'range_end': end, 'prefix': True, 'type': 'readwrite'}]}
    assert run.diff[0]['before'] == {} and run.diff[0]['after'] == run['role']
    assert etcdctl_perms(etcd_cluster, role) is None

    run = run_module('etcd_role', dict(conn, name=role, permissions=[app_perm]), diff=True)
    assert not run.failed and run.changed, run
    assert etcdctl_perms(etcd_cluster, role) == [('readwrite', prefix, end)]

    # idempotent
    run = run_module('etcd_role', dict(conn, name=role, permissions=[app_perm]))
    assert not run.failed and not run.changed and run['actions'] == [], run

    # the role really limits a user to the prefix
    user, password = 'it-u-%s' % uuid.uuid4().hex[:6], 'pw %s' % uuid.uuid4().hex
    etcd_cluster.client().user_add(user, password)
    etcd_cluster.client().user_grant_role(user, role)
    try:
        as_user = etcd_cluster.client(user=user, password=password)
        assert can(as_user, 'put', prefix + 'a') and can(as_user, 'get', prefix + 'a')
        assert not can(as_user, 'put', '/service/other') and not can(as_user, 'get', '/service/other')

        # permission change: readwrite -> read (one grant, the type is replaced in place)
        read_perm = dict(app_perm, type='read')
        run = run_module('etcd_role', dict(conn, name=role, permissions=[read_perm]), check=True, diff=True)
        assert run.changed and run.diff[0]['before']['permissions'][0]['type'] == 'readwrite'
        assert run.diff[0]['after']['permissions'][0]['type'] == 'read'
        assert etcdctl_perms(etcd_cluster, role) == [('readwrite', prefix, end)]
        run = run_module('etcd_role', dict(conn, name=role, permissions=[read_perm]))
        assert run.changed and not run.failed, run
        assert etcdctl_perms(etcd_cluster, role) == [('read', prefix, end)]
        # READ is the enum's zero value, which the JSON gateway leaves out: still recognised as equal
        run = run_module('etcd_role', dict(conn, name=role, permissions=[read_perm]))
        assert not run.changed and not run.failed, run
        as_user = etcd_cluster.client(user=user, password=password)
        assert can(as_user, 'get', prefix + 'a') and not can(as_user, 'put', prefix + 'a')

        # additive (exclusive_permissions=false): a single key and a range join the prefix
        extra = [{'key': '/config/%s' % role, 'type': 'read'},
                 {'key': '/metrics/%s/a' % role, 'range_end': '/metrics/%s/n' % role, 'type': 'write'}]
        run = run_module('etcd_role', dict(conn, name=role, permissions=extra, exclusive_permissions=False))
        assert run.changed and not run.failed, run
        assert etcdctl_perms(etcd_cluster, role) == sorted([
            ('read', prefix, end), ('read', '/config/%s' % role, ''),
            ('write', '/metrics/%s/a' % role, '/metrics/%s/n' % role)])
        run = run_module('etcd_role', dict(conn, name=role, permissions=extra, exclusive_permissions=False))
        assert not run.changed, run
        # permissions not given: nothing is managed, nothing changes
        run = run_module('etcd_role', dict(conn, name=role))
        assert not run.changed and len(run['role']['permissions']) == 3, run

        # revocation: exclusive (the default) keeps only what is listed
        run = run_module('etcd_role', dict(conn, name=role, permissions=[read_perm]), check=True)
        assert run.changed and len(run['actions']) == 2 and all(a.startswith('revoke') for a in run['actions'])
        assert len(etcdctl_perms(etcd_cluster, role)) == 3
        run = run_module('etcd_role', dict(conn, name=role, permissions=[read_perm]))
        assert run.changed and etcdctl_perms(etcd_cluster, role) == [('read', prefix, end)], run
        run = run_module('etcd_role', dict(conn, name=role, permissions=[]))
        assert run.changed and etcdctl_perms(etcd_cluster, role) == [], run
        as_user = etcd_cluster.client(user=user, password=password)
        assert not can(as_user, 'get', prefix + 'a')

        # deletion (etcd also revokes the role from its users)
        run = run_module('etcd_role', dict(conn, name=role, state='absent'), check=True, diff=True)
        assert run.changed and run.diff[0]['after'] == {} and etcdctl_perms(etcd_cluster, role) == []
        run = run_module('etcd_role', dict(conn, name=role, state='absent'))
        assert run.changed and not run.failed and etcdctl_perms(etcd_cluster, role) is None, run
        assert role not in etcd_cluster.client().user_get(user)['roles']
        run = run_module('etcd_role', dict(conn, name=role, state='absent'))
        assert not run.changed and not run.failed, run
    finally:
        etcd_cluster.etcdctl('user', 'delete', user, check=False)
        etcd_cluster.etcdctl('role', 'delete', role, check=False)


def test_role_whole_keyspace_and_root(etcd_cluster, run_module):
    conn = etcd_cluster.connection
    role = 'it-all-%s' % uuid.uuid4().hex[:6]
    try:
        run = run_module('etcd_role', dict(conn, name=role, permissions=[{'key': '', 'prefix': True,
                                                                          'type': 'read'}]))
        assert run.changed and not run.failed, run
        assert etcdctl_perms(etcd_cluster, role) == [('read', '\x00', '\x00')]
        assert run['role']['permissions'] == [{'key': '', 'range_end': '\x00', 'prefix': True, 'type': 'read'}]
        run = run_module('etcd_role', dict(conn, name=role, permissions=[{'key': '', 'prefix': True,
                                                                          'type': 'read'}]))
        assert not run.changed, run
    finally:
        etcd_cluster.etcdctl('role', 'delete', role, check=False)
    # the root role is built in (the test cluster granted it to root without creating it); the module may create
    # it once, then leaves it alone
    run = run_module('etcd_role', dict(conn, name='root'))
    assert not run.failed, run
    run = run_module('etcd_role', dict(conn, name='root'))
    assert not run.changed and not run.failed and run['role']['name'] == 'root', run


def test_role_bad_input(etcd_cluster, run_modules):
    conn = etcd_cluster.connection
    role = 'it-bad-%s' % uuid.uuid4().hex[:6]
    cases = [
        (dict(conn, name=role, permissions=[{'key': '/a/', 'prefix': True, 'range_end': '/b'}]), ['exclude']),
        (dict(conn, name=role, permissions=[{'key': '/b', 'range_end': '/a'}]), ['range_end', 'sort after']),
        (dict(conn, name=role, permissions=[{'key': ''}]), ['empty', 'prefix']),
        (dict(conn, name=role, permissions=[{'key': '/a', 'type': 'admin'}]), ['type']),
        (dict(conn, name=role, permissions=[{'prefix': True}]), ['key']),
        (dict(conn, name=role, permissions=[{'key': '/a', 'type': 'read'}, {'key': '/a', 'type': 'write'}]),
         ['permissions[0] and permissions[1]']),
        (dict(conn, name=role, state='absent', permissions=[{'key': '/a'}]), ['state=present']),
        (dict(conn, name='root', permissions=[{'key': '/a'}]), ['root role', 'every permission']),
        (dict(conn, name='root', state='absent'), ['root role', 'disable']),
        (dict(conn, name=''), ['role name']),
        (dict(conn, name=role, permissions=[{'key': '/a'}], password='wrong'), ['authentication', 'password']),
        (dict(conn, name=role, permissions=[{'key': '/a'}], user=None, password=None), ['user and password']),
    ]
    runs = run_modules([('etcd_role', case[0]) for case in cases])
    for case, run in zip(cases, runs):
        assert_clean_failure(run, *case[1])
    assert etcdctl_perms(etcd_cluster, role) is None
    assert etcdctl_perms(etcd_cluster, 'root') is not None
