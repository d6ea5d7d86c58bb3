# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Table tests for the auth policy (users, roles, permissions, enabling auth)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _auth as a
from ansible_collections.etcdkit.etcd.plugins.module_utils._auth import AuthPolicyError, Perm
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError, EtcdError

RW, R, W = 'readwrite', 'read', 'write'


# --------------------------------------------------------------------------------------------- permissions

NORMALIZE_CASES = [
    # (id, option item, expected Perm)
    ('single key default readwrite', {'key': '/a'}, Perm(b'/a', b'', RW)),
    ('prefix', {'key': '/service/app/', 'prefix': True}, Perm(b'/service/app/', b'/service/app0', RW)),
    ('prefix read', {'key': '/service/app/', 'prefix': True, 'type': 'read'},
     Perm(b'/service/app/', b'/service/app0', R)),
    ('type any case', {'key': '/a', 'type': 'WRITE'}, Perm(b'/a', b'', W)),
    ('range', {'key': '/a', 'range_end': '/b'}, Perm(b'/a', b'/b', RW)),
    ('range_end empty = single key', {'key': '/a', 'range_end': ''}, Perm(b'/a', b'', RW)),
    ('from key (range_end NUL)', {'key': '/a', 'range_end': '\x00'}, Perm(b'/a', b'\x00', RW)),
    ('whole keyspace', {'key': '', 'prefix': True}, Perm(b'\x00', b'\x00', RW)),
    ('prefix None = false', {'key': '/a', 'prefix': None, 'range_end': None, 'type': None}, Perm(b'/a', b'', RW)),
    ('prefix ending in 0xff byte', {'key': b'/a\xff', 'prefix': True}, Perm(b'/a\xff', b'/b', RW)),
    ('unicode prefix', {'key': '/ü/', 'prefix': True}, Perm('/ü/'.encode('utf-8'), '/ü0'.encode('utf-8'), RW)),
]


@pytest.mark.parametrize('item,expected', [c[1:] for c in NORMALIZE_CASES], ids=[c[0] for c in NORMALIZE_CASES])
def test_normalize_permission(item, expected):
    assert a.normalize_permission(item) == expected


BAD_PERMISSION_CASES = [
    # (id, item, words the message must contain)
    ('not a dict', '/a', ['permissions[0]', 'dict']),
    ('no key', {'prefix': True}, ['needs key']),
    ('key not string', {'key': 5}, ['needs key']),
    ('unknown field', {'key': '/a', 'perm': 'read'}, ['unknown', 'perm']),
    ('bad type', {'key': '/a', 'type': 'admin'}, ['type', 'read, write, readwrite']),
    ('prefix and range_end', {'key': '/a', 'prefix': True, 'range_end': '/b'}, ['exclude']),
    ('empty key without prefix', {'key': ''}, ['empty', 'prefix: true']),
    ('range_end below key', {'key': '/b', 'range_end': '/a'}, ['must sort after']),
    ('range_end equal key', {'key': '/b', 'range_end': '/b'}, ['must sort after']),
    ('prefix not bool', {'key': '/a', 'prefix': 'yes'}, ['prefix', 'true or false']),
]


@pytest.mark.parametrize('item,words', [c[1:] for c in BAD_PERMISSION_CASES],
                         ids=[c[0] for c in BAD_PERMISSION_CASES])
def test_normalize_permission_rejects(item, words):
    with pytest.raises(AuthPolicyError) as err:
        a.normalize_permission(item)
    for word in words:
        assert word in str(err.value)


def test_normalize_permissions_sorts_and_dedupes():
    perms = a.normalize_permissions([{'key': '/b'}, {'key': '/a', 'prefix': True}, {'key': '/b', 'type': 'readwrite'}])
    assert perms == [Perm(b'/a', b'/b', RW), Perm(b'/b', b'', RW)]


def test_normalize_permissions_same_range_two_types():
    with pytest.raises(AuthPolicyError) as err:
        a.normalize_permissions([{'key': '/x/', 'prefix': True, 'type': 'read'},
                                 {'key': '/x/', 'range_end': '/x0', 'type': 'write'}])
    assert 'permissions[0] and permissions[1]' in str(err.value) and "prefix '/x/'" in str(err.value)


def test_normalize_permissions_not_a_list():
    with pytest.raises(AuthPolicyError):
        a.normalize_permissions({'key': '/a'})
    assert a.normalize_permissions(None) == []


ACTUAL_CASES = [
    ('upper type', {'type': 'READWRITE', 'key': '/a', 'range_end': '/b'}, Perm(b'/a', b'/b', RW)),
    ('missing type is READ (gateway omits enum 0)', {'key': '/a', 'range_end': ''}, Perm(b'/a', b'', R)),
    ('enum number', {'type': 1, 'key': '/a'}, Perm(b'/a', b'', W)),
    ('bytes fields preferred', {'type': 'read', 'key': '/a?', 'key_bytes': b'/a\xff', 'range_end': None},
     Perm(b'/a\xff', b'', R)),
    ('permType name', {'permType': 'WRITE', 'key': '/a'}, Perm(b'/a', b'', W)),
]


@pytest.mark.parametrize('item,expected', [c[1:] for c in ACTUAL_CASES], ids=[c[0] for c in ACTUAL_CASES])
def test_perm_from_actual(item, expected):
    assert a.perm_from_actual(item) == expected


def test_perm_to_dict():
    assert a.perm_to_dict(Perm(b'/s/app/', b'/s/app0', R)) == dict(key='/s/app/', range_end='/s/app0', prefix=True,
                                                                   type=R)
    assert a.perm_to_dict(Perm(b'\x00', b'\x00', RW)) == dict(key='', range_end='\x00', prefix=True, type=RW)
    assert a.perm_to_dict(Perm(b'/k', b'', W))['prefix'] is False
    assert a.perm_to_dict(Perm(b'/a', b'/c', W))['prefix'] is False
    assert a.perm_to_dict(Perm(b'/a', b'\x00', W))['prefix'] is False


APP = Perm(b'/service/app/', b'/service/app0', RW)
APP_R = Perm(b'/service/app/', b'/service/app0', R)
CFG = Perm(b'/config', b'', R)
OLD = Perm(b'/old/', b'/old0', W)

PLAN_PERMISSION_CASES = [
    # (id, desired, actual, exclusive, grants, revokes, after)
    ('nothing', [], [], True, [], [], []),
    ('equal', [APP, CFG], [CFG, APP], True, [], [], [CFG, APP]),
    ('new', [APP], [], True, [APP], [], [APP]),
    ('type change is one grant', [APP_R], [APP], True, [APP_R], [], [APP_R]),
    ('exclusive revokes the rest', [APP], [APP, OLD, CFG], True, [], [CFG, OLD], [APP]),
    ('not exclusive keeps the rest (sorted by key)', [APP], [OLD, CFG], False, [APP], [], [CFG, OLD, APP]),
    ('exclusive empty revokes all', [], [APP, OLD], True, [], [OLD, APP], []),
    ('grant and revoke', [CFG], [OLD], True, [CFG], [OLD], [CFG]),
]


@pytest.mark.parametrize('desired,actual,exclusive,grants,revokes,after', [c[1:] for c in PLAN_PERMISSION_CASES],
                         ids=[c[0] for c in PLAN_PERMISSION_CASES])
def test_plan_permissions(desired, actual, exclusive, grants, revokes, after):
    got = a.plan_permissions(desired, actual, exclusive)
    assert got == (grants, revokes, after)


# ---------------------------------------------------------------------------------------------------- roles

def actual_role(*perms):
    return {'name': 'app', 'permissions': [dict(type=p.type.upper(), key=p.key.decode(), range_end=p.range_end.decode())
                                           for p in perms]}


APP_OPT = {'key': '/service/app/', 'prefix': True}
APP_R_OPT = {'key': '/service/app/', 'prefix': True, 'type': 'read'}
CFG_OPT = {'key': '/config', 'type': 'read'}

ROLE_CASES = [
    # (id, state, actual, permissions option, exclusive, auth_enabled, expected actions)
    ('create with permission', 'present', None, [APP_OPT], True, True, [('role_add', 'app'), ('grant', APP)]),
    ('create without permissions', 'present', None, None, True, True, [('role_add', 'app')]),
    ('exists equal', 'present', actual_role(APP), [APP_OPT], True, True, []),
    ('permissions not given: not managed', 'present', actual_role(APP, OLD), None, True, True, []),
    ('type change', 'present', actual_role(APP), [APP_R_OPT], True, True, [('grant', APP_R)]),
    ('narrowing: grant first, revoke after', 'present', actual_role(OLD), [CFG_OPT], True, False,
     [('grant', CFG), ('revoke', OLD)]),
    ('not exclusive only adds', 'present', actual_role(OLD), [CFG_OPT], False, True, [('grant', CFG)]),
    ('empty list exclusive revokes all', 'present', actual_role(APP, OLD), [], True, True,
     [('revoke', OLD), ('revoke', APP)]),
    ('delete', 'absent', actual_role(APP), None, True, True, [('role_delete', 'app')]),
    ('delete missing', 'absent', None, None, True, True, []),
]


@pytest.mark.parametrize('state,actual,perms,exclusive,enabled,actions', [c[1:] for c in ROLE_CASES],
                         ids=[c[0] for c in ROLE_CASES])
def test_plan_role(state, actual, perms, exclusive, enabled, actions):
    plan = a.plan_role('app', state, actual, perms, exclusive, enabled)
    assert plan.actions == actions
    assert plan.changed == bool(actions)
    if state == 'present':
        assert plan.after['name'] == 'app'
        # the predicted permissions are what a second run would find: planning again from them changes nothing
        again = a.plan_role('app', state, {'name': 'app', 'permissions': plan.after['permissions']}, perms, exclusive,
                            enabled)
        assert again.actions == [] and again.after == plan.after
    else:
        assert plan.after == {}


def test_plan_role_result_shape():
    plan = a.plan_role('app', 'present', None, [APP_R_OPT, CFG_OPT], True, True)
    assert plan.before == {}
    assert plan.after == {'name': 'app', 'permissions': [
        {'key': '/config', 'range_end': '', 'prefix': False, 'type': 'read'},
        {'key': '/service/app/', 'range_end': '/service/app0', 'prefix': True, 'type': 'read'}]}


ROOT_ROLE = {'name': 'root', 'permissions': [{'type': 'READWRITE', 'key': '', 'range_end': '\x00'}]}

BAD_ROLE_CASES = [
    # (id, name, state, actual, perms, auth_enabled, words)
    ('empty name', '', 'present', None, None, True, ['role name']),
    ('permissions with absent', 'app', 'absent', None, [APP_OPT], True, ['state=present']),
    ('delete root while enabled', 'root', 'absent', ROOT_ROLE, None, True, ['root role', 'disable']),
    ('permissions for root', 'root', 'present', ROOT_ROLE, [APP_OPT], True, ['every permission']),
    ('bad state', 'app', 'gone', None, None, True, ['state']),
    ('bad permission', 'app', 'present', None, [{'key': '/b', 'range_end': '/a'}], True, ['permissions[0]']),
]


@pytest.mark.parametrize('name,state,actual,perms,enabled,words', [c[1:] for c in BAD_ROLE_CASES],
                         ids=[c[0] for c in BAD_ROLE_CASES])
def test_plan_role_rejects(name, state, actual, perms, enabled, words):
    with pytest.raises(AuthPolicyError) as err:
        a.plan_role(name, state, actual, perms, True, enabled)
    for word in words:
        assert word in str(err.value)


def test_root_role_ensured_not_managed():
    assert a.plan_role('root', 'present', ROOT_ROLE, None, True, True).actions == []
    assert a.plan_role('root', 'present', None, None, True, False).actions == [('role_add', 'root')]
    # while auth is disabled the root role may be deleted
    assert a.plan_role('root', 'absent', ROOT_ROLE, None, True, False).actions == [('role_delete', 'root')]


# ---------------------------------------------------------------------------------------------------- users

def user(*roles):
    return {'name': 'app', 'roles': list(roles)}


USER_CASES = [
    # (id, kwargs for plan_user (name='app'), expected actions, password_changed, warns)
    ('create with password', dict(state='present', actual=None, password='p w'),
     [('user_add', 'app')], True, False),
    ('create with roles', dict(state='present', actual=None, password='pw', roles=['b', 'a', 'b']),
     [('user_add', 'app'), ('grant_role', 'a'), ('grant_role', 'b')], True, False),
    ('create cert-only', dict(state='present', actual=None, no_password=True, roles=['a']),
     [('user_add', 'app'), ('grant_role', 'a')], False, False),
    ('exists, password verified', dict(state='present', actual=user('a'), password='pw', roles=['a'],
                                       auth_enabled=True, password_ok=True), [], False, False),
    ('exists, password differs', dict(state='present', actual=user('a'), password='pw', roles=['a'],
                                      auth_enabled=True, password_ok=False),
     [('change_password', 'app')], True, False),
    ('password change comes last', dict(state='present', actual=user('a'), password='pw', roles=['b'],
                                        exclusive_roles=True, auth_enabled=True, password_ok=False),
     [('grant_role', 'b'), ('revoke_role', 'a'), ('change_password', 'app')], True, False),
    ('on_create never checks', dict(state='present', actual=user(), password='pw', update_password='on_create',
                                    auth_enabled=True), [], False, False),
    ('auth disabled: existing password left, warning', dict(state='present', actual=user(), password='pw',
                                                            auth_enabled=False), [], False, True),
    ('no password given: password untouched', dict(state='present', actual=user(), auth_enabled=True), [],
     False, False),
    ('roles not exclusive only add', dict(state='present', actual=user('a', 'c'), roles=['b']),
     [('grant_role', 'b')], False, False),
    ('exclusive revokes', dict(state='present', actual=user('a', 'c'), roles=['a'], exclusive_roles=True),
     [('revoke_role', 'c')], False, False),
    ('exclusive empty revokes all', dict(state='present', actual=user('a', 'c'), roles=[], exclusive_roles=True),
     [('revoke_role', 'a'), ('revoke_role', 'c')], False, False),
    ('roles not given: not managed', dict(state='present', actual=user('a')), [], False, False),
    ('delete', dict(state='absent', actual=user('a')), [('user_delete', 'app')], False, False),
    ('delete missing', dict(state='absent', actual=None), [], False, False),
    ('existing roles known and present', dict(state='present', actual=user(), roles=['a'], existing_roles=['a']),
     [('grant_role', 'a')], False, False),
    ('root role is built in, need not be stored', dict(state='present', actual=user(), roles=['root'],
                                                       existing_roles=[]), [('grant_role', 'root')], False, False),
]


@pytest.mark.parametrize('kwargs,actions,password_changed,warns', [c[1:] for c in USER_CASES],
                         ids=[c[0] for c in USER_CASES])
def test_plan_user(kwargs, actions, password_changed, warns):
    plan = a.plan_user('app', **kwargs)
    assert plan.actions == actions
    assert plan.changed == bool(actions)
    assert plan.password_changed == password_changed
    assert bool(plan.warnings) == warns
    if kwargs['state'] == 'present' and not password_changed:
        # a second run from the predicted state changes nothing
        again = dict(kwargs, actual=plan.user, password_ok=True)
        assert a.plan_user('app', **again).actions == []


def test_plan_user_diff_hides_password():
    plan = a.plan_user('app', 'present', user('a'), password='secret pw', roles=['a'], auth_enabled=True,
                       password_ok=False)
    assert plan.before == {'name': 'app', 'roles': ['a'], 'password': '(old)'}
    assert plan.after == {'name': 'app', 'roles': ['a'], 'password': '(new)'}
    assert 'secret' not in repr(plan)
    created = a.plan_user('app', 'present', None, password='secret pw')
    assert created.before == {} and created.after == {'name': 'app', 'roles': [], 'password': '(new)'}
    assert created.user == {'name': 'app', 'roles': []} and plan.user == {'name': 'app', 'roles': ['a']}


def test_plan_user_warning_names_user_and_what_happens():
    plan = a.plan_user('root', 'present', {'name': 'root', 'roles': ['root']}, password='pw', auth_enabled=False)
    assert 'root' in plan.warnings[0] and 'authentication is enabled' in plan.warnings[0]


BAD_USER_CASES = [
    # (id, name, kwargs, words)
    ('empty name', '', dict(state='present', actual=None, password='pw'), ['user name']),
    ('create without password', 'app', dict(state='present', actual=None), ['give user_password', 'no_password=true']),
    ('password and no_password', 'app', dict(state='present', actual=None, password='pw', no_password=True),
     ['exclude']),
    ('empty password', 'app', dict(state='present', actual=None, password=''), ['user_password must not be empty']),
    ('exclusive without roles', 'app', dict(state='present', actual=user(), exclusive_roles=True),
     ['exclusive_roles=true needs roles']),
    ('absent with password', 'app', dict(state='absent', actual=user(), password='pw'), ['user_password', 'state=present']),
    ('absent with roles', 'app', dict(state='absent', actual=user(), roles=['a']), ['roles', 'state=present']),
    ('bad update_password', 'app', dict(state='present', actual=user(), update_password='never'),
     ['update_password']),
    ('bad role name', 'app', dict(state='present', actual=user(), roles=['a', '']), ['roles[1]']),
    ('delete root while enabled', 'root', dict(state='absent', actual={'name': 'root', 'roles': ['root']},
                                               auth_enabled=True), ['root user', 'disable']),
    ('revoke root from root while enabled', 'root',
     dict(state='present', actual={'name': 'root', 'roles': ['root']}, roles=[], exclusive_roles=True,
          auth_enabled=True), ['root role', 'root user']),
    ('unknown role', 'app', dict(state='present', actual=user(), roles=['a', 'nope', 'gone'], existing_roles=['a']),
     ['gone, nope', 'etcd_role']),
    ('bad state', 'app', dict(state='gone', actual=None), ['state']),
]


@pytest.mark.parametrize('name,kwargs,words', [c[1:] for c in BAD_USER_CASES], ids=[c[0] for c in BAD_USER_CASES])
def test_plan_user_rejects(name, kwargs, words):
    with pytest.raises(AuthPolicyError) as err:
        a.plan_user(name, **kwargs)
    for word in words:
        assert word in str(err.value)


def test_root_may_be_managed_while_disabled():
    root = {'name': 'root', 'roles': ['root']}
    assert a.plan_user('root', 'absent', root, auth_enabled=False).actions == [('user_delete', 'root')]
    plan = a.plan_user('root', 'present', root, roles=[], exclusive_roles=True, auth_enabled=False)
    assert plan.actions == [('revoke_role', 'root')]


PASSWORD_CHECK_CASES = [
    # (id, state, actual, password, update_password, auth_enabled, expected)
    ('existing, always, enabled', 'present', user(), 'pw', 'always', True, True),
    ('auth disabled', 'present', user(), 'pw', 'always', False, False),
    ('on_create', 'present', user(), 'pw', 'on_create', True, False),
    ('new user', 'present', None, 'pw', 'always', True, False),
    ('no password', 'present', user(), None, 'always', True, False),
    ('absent', 'absent', user(), None, 'always', True, False),
]


@pytest.mark.parametrize('state,actual,password,update,enabled,expected', [c[1:] for c in PASSWORD_CHECK_CASES],
                         ids=[c[0] for c in PASSWORD_CHECK_CASES])
def test_password_check_needed(state, actual, password, update, enabled, expected):
    assert a.password_check_needed(state, actual, password, update, enabled) is expected


def test_plan_user_requires_verification_result_when_checkable():
    with pytest.raises(AuthPolicyError):
        a.plan_user('app', 'present', user(), password='pw', auth_enabled=True)


# ----------------------------------------------------------------------------------------------------- auth

AUTH_CASES = [
    # (id, state, enabled, root user, expected actions, expected enabled)
    ('enable', 'enabled', False, {'name': 'root', 'roles': ['root']}, [('auth_enable', None)], True),
    ('already enabled', 'enabled', True, None, [], True),
    ('disable', 'disabled', True, None, [('auth_disable', None)], False),
    ('already disabled', 'disabled', False, None, [], False),
    ('root with more roles', 'enabled', False, {'name': 'root', 'roles': ['app', 'root']}, [('auth_enable', None)],
     True),
]


@pytest.mark.parametrize('state,enabled,root,actions,after', [c[1:] for c in AUTH_CASES],
                         ids=[c[0] for c in AUTH_CASES])
def test_plan_auth(state, enabled, root, actions, after):
    plan = a.plan_auth(state, enabled, root)
    assert plan.actions == actions and plan.changed == bool(actions) and plan.enabled is after


@pytest.mark.parametrize('root,words', [
    (None, ['user root does not exist', 'etcd_user']),
    ({'name': 'root', 'roles': []}, ['does not have the root role', 'roles=[root]']),
    ({'name': 'root', 'roles': ['app']}, ['does not have the root role']),
], ids=['no root user', 'root without roles', 'root with other role'])
def test_plan_auth_enable_needs_root(root, words):
    assert a.root_problem(root)
    with pytest.raises(AuthPolicyError) as err:
        a.plan_auth('enabled', False, root)
    for word in words:
        assert word in str(err.value)


def test_check_mode_missing_prerequisites_warn():
    plan = a.plan_auth('enabled', False, None, check_mode=True)
    assert plan.actions == [('auth_enable', None)] and 'user root does not exist' in plan.warnings[0]
    plan = a.plan_user('app', 'present', user(), roles=['a', 'nope'], existing_roles=['a'], check_mode=True)
    assert plan.actions == [('grant_role', 'a'), ('grant_role', 'nope')] and 'nope' in plan.warnings[0]


def test_plan_auth_bad_state():
    with pytest.raises(AuthPolicyError):
        a.plan_auth('on', False, None)


@pytest.mark.parametrize('key,end', [(b'/a/', b'/a0'), (b'a', b'b'), (b'\xff', b'\x00'), (b'a\xff\xff', b'b'),
                                     (b'', b'\x00')])
def test_prefix_end(key, end):
    assert a.prefix_end(key) == end


# ----------------------------------------------------------------------------------------------- carrying out

def test_run_actions_in_order_with_labels():
    calls = []
    handlers = dict(role_add=lambda arg: calls.append(('role_add', arg)), grant=lambda p: calls.append(('grant', p)))
    done = a.run_actions([('role_add', 'app'), ('grant', APP_R)], handlers)
    assert calls == [('role_add', 'app'), ('grant', APP_R)]
    assert done == ['role_add app', "grant read prefix '/service/app/'"]


def test_run_actions_partial_failure_names_what_was_done():
    def boom(arg):
        raise EtcdError('etcdserver: permission denied', kind='permission')

    handlers = dict(user_add=lambda arg: None, grant_role=boom, revoke_role=lambda arg: None)
    with pytest.raises(a.ActionFailed) as err:
        a.run_actions([('user_add', 'app'), ('grant_role', 'x'), ('revoke_role', 'y')], handlers)
    assert isinstance(err.value, CoreError)
    assert err.value.done == ['user_add app']
    assert 'permission denied' in err.value.message and 'done before this failure: user_add app' in err.value.message
    assert err.value.to_dict()['kind'] == 'permission' and err.value.to_dict()['done'] == ['user_add app']
    # nothing done yet: the cause's message alone
    with pytest.raises(a.ActionFailed) as err:
        a.run_actions([('grant_role', 'x')], handlers)
    assert err.value.done == [] and 'done before' not in err.value.message


@pytest.mark.parametrize('landed_answer,outcome', [(True, 'done'), (False, 'not applied')])
def test_run_actions_lost_answer_is_re_read_and_warned_once(landed_answer, outcome):
    def lost(arg):
        raise CoreError('connection reset', details=dict(may_have_been_applied=True))

    warnings = []
    handlers = dict(role_add=lost, grant=lambda p: None)
    if outcome == 'done':
        done = a.run_actions([('role_add', 'app'), ('grant', APP_R)], handlers,
                             landed=lambda action: landed_answer, warn=warnings.append)
        assert done == ['role_add app', "grant read prefix '/service/app/'"]
        assert len(warnings) == 1 and 'role_add app' in warnings[0] and 'applied' in warnings[0]
    else:
        with pytest.raises(a.ActionFailed) as err:
            a.run_actions([('role_add', 'app')], handlers, landed=lambda action: landed_answer,
                          warn=warnings.append)
        assert 'was not applied' in err.value.message and warnings == []


@pytest.mark.parametrize('planned_again,expected', [([], True), ([('grant', APP_R)], True),
                                                    ([('role_add', 'app')], False)])
def test_replanned_away(planned_again, expected):
    again = a.plan_role('app', 'present', None, [], False, False)._replace(actions=planned_again)
    assert a.replanned_away(('role_add', 'app'), again) is expected


def test_policy_errors_are_core_errors():
    with pytest.raises(CoreError) as err:
        a.plan_auth('enabled', False, None)
    assert err.value.to_dict() == {'kind': 'input', 'message': err.value.message}
