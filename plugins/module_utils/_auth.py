# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Pure policy for etcd authentication: users, roles with key-range permissions, enabling auth.

No I/O and standard library only (``_errors`` for the base error): the modules ``etcd_user``, ``etcd_role`` and ``etcd_auth`` read the actual
state with the client, hand it to these functions together with the desired state, and carry out the returned
list of changes (or, in check mode, only report it). Every rule of etcd's auth store that would make a change
fail half-way is checked here first, so bad input changes nothing.

Facts of etcd's auth store (3.4-3.6) that the policy follows:

- A permission is ``(key, range_end, type)``; ``range_end`` empty means the single key ``key``; a prefix is
  ``[prefix, prefix_end(prefix))``; ``range_end == "\\x00"`` means every key from ``key`` on; the whole keyspace is
  ``key="\\x00", range_end="\\x00"`` (etcdctl's ``--prefix ""``). etcd rejects an empty key and a ``range_end``
  that is not above ``key`` (except ``"\\x00"``).
- Granting a permission whose ``(key, range_end)`` the role already has replaces its type in place; a revoke
  matches ``(key, range_end)`` exactly.
- The ``root`` role has every permission (``role get root`` shows one READWRITE permission on all keys);
  permissions granted to it change nothing, so the policy refuses to manage them.
- The ``root`` role is built in: it can be granted although no role of that name was created (``role get root``
  then answers "role name not found"); creating it is allowed.
- While auth is enabled etcd refuses to delete the ``root`` user or role and to revoke the ``root`` role from
  the ``root`` user; enabling auth needs a ``root`` user that has the ``root`` role.
- A user's password cannot be read back. With auth enabled it is verified by authenticating as the user; while
  auth is disabled etcd refuses to authenticate anyone, so an existing user's password cannot be verified.
- Changing the password of a user created without password (``no_password``) succeeds but leaves the user
  without password.

Public API (all raise ``AuthPolicyError`` - a ``CoreError`` and ``ValueError`` whose message says what to change -
on bad input):

``Perm(key, range_end, type)``
    canonical permission; ``key``/``range_end`` are ``bytes``, ``type`` is ``'read'|'write'|'readwrite'``.
``normalize_permissions(items)`` -> sorted list of ``Perm`` from the module option (dicts ``key``, ``prefix``,
    ``range_end``, ``type``).
``perm_from_actual(item)`` -> ``Perm`` from a client ``role_get`` permission dict.
``perm_to_dict(perm)`` -> ``{'key', 'range_end', 'prefix', 'type'}`` for results.
``plan_role(name, state, actual, desired_perms, exclusive, auth_enabled)`` -> ``RolePlan``.
``plan_user(name, state, actual, password, no_password, update_password, roles, exclusive_roles, auth_enabled,
    password_ok=None, existing_roles=None, check_mode=False)`` -> ``UserPlan``.
``password_check_needed(state, actual, password, update_password, auth_enabled)`` -> bool.
``root_problem(root_user)`` -> ``None`` or the sentence that says what to create before enabling auth.
``plan_auth(state, enabled, root_user, check_mode=False)`` -> ``AuthPlan``.

In check mode a missing prerequisite (a role to grant, the root user before enabling auth) is a warning, not a
failure: an earlier task of the same play that would create it was only simulated.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from collections import namedtuple

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import prefix_end, to_bytes
from ansible_collections.etcdkit.etcd.plugins.module_utils._verify import LANDED_WARNING, confirm, uncertain

ROOT = 'root'
PERM_TYPES = ('read', 'write', 'readwrite')
UPDATE_PASSWORD = ('always', 'on_create')
ALL_KEYS = b'\x00'
_PERM_KEYS = frozenset(['key', 'prefix', 'range_end', 'type'])


class AuthPolicyError(CoreError, ValueError):
    """Bad desired state; the message says what to change (``EtcdModule`` turns it into ``fail_json``)."""

    def to_dict(self):
        return dict(kind='input', message=self.message)


Perm = namedtuple('Perm', ['key', 'range_end', 'type'])

# action tuples: (verb, argument); verbs are the client call to make, in order
RolePlan = namedtuple('RolePlan', ['changed', 'actions', 'before', 'after', 'permissions'])
UserPlan = namedtuple('UserPlan', ['changed', 'actions', 'before', 'after', 'user', 'password_changed',
                                   'warnings'])
AuthPlan = namedtuple('AuthPlan', ['changed', 'actions', 'enabled', 'warnings'])


# ------------------------------------------------------------------------------------------------ helpers

def to_text(value):
    return to_bytes(value).decode('utf-8', 'replace')


def _is_bool(value):
    return isinstance(value, bool)


# ---------------------------------------------------------------------------------------------- permissions

def normalize_permission(item, index=0):
    """One entry of the ``permissions`` option -> ``Perm``."""
    where = 'permissions[%d]' % index
    if not isinstance(item, dict):
        raise AuthPolicyError('%s must be a dict with key (and optionally prefix, range_end, type), got %r.'
                              % (where, item))
    unknown = sorted(set(item) - _PERM_KEYS)
    if unknown:
        raise AuthPolicyError('%s has unknown field(s) %s; allowed are key, prefix, range_end and type.'
                              % (where, ', '.join(unknown)))
    key = item.get('key')
    if key is None or not isinstance(key, (str, bytes)):
        raise AuthPolicyError('%s needs key (a string: the key, or with prefix=true the key prefix).' % where)
    prefix = item.get('prefix', False)
    if prefix is None:
        prefix = False
    if not _is_bool(prefix):
        raise AuthPolicyError('%s.prefix must be true or false, got %r.' % (where, prefix))
    range_end = item.get('range_end')
    if range_end is not None and not isinstance(range_end, (str, bytes)):
        raise AuthPolicyError('%s.range_end must be a string, got %r.' % (where, range_end))
    perm_type = item.get('type')
    if perm_type is None:
        perm_type = 'readwrite'
    if not isinstance(perm_type, str) or perm_type.lower() not in PERM_TYPES:
        raise AuthPolicyError('%s.type must be one of %s, got %r.' % (where, ', '.join(PERM_TYPES), perm_type))
    perm_type = perm_type.lower()
    key = to_bytes(key)
    if prefix and range_end not in (None, ''):
        raise AuthPolicyError('%s: prefix=true and range_end exclude each other; give a key prefix with '
                              'prefix=true, or a range [key, range_end).' % where)
    if prefix:
        if key == b'':
            # the whole keyspace, as etcdctl writes it for `--prefix ""`
            return Perm(ALL_KEYS, ALL_KEYS, perm_type)
        return Perm(key, prefix_end(key), perm_type)
    if key == b'':
        raise AuthPolicyError('%s: key must not be empty; use key: "" with prefix: true for the whole keyspace.'
                              % where)
    range_end = to_bytes(range_end)
    if range_end and range_end != ALL_KEYS and range_end <= key:
        raise AuthPolicyError('%s: range_end %r must sort after key %r (the range is [key, range_end)); '
                              'use prefix: true for a key prefix.' % (where, to_text(range_end), to_text(key)))
    return Perm(key, range_end, perm_type)


def normalize_permissions(items):
    """The ``permissions`` option -> sorted, de-duplicated list of ``Perm``.

    The same range listed twice with different types is an error (etcd keeps one type per range)."""
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise AuthPolicyError('permissions must be a list of dicts, got %r.' % (items,))
    seen = {}
    for index, item in enumerate(items):
        perm = normalize_permission(item, index)
        rng = (perm.key, perm.range_end)
        if rng in seen:
            other_index, other = seen[rng]
            if other.type != perm.type:
                raise AuthPolicyError('permissions[%d] and permissions[%d] name the same range (%s) with types %s '
                                      'and %s; etcd keeps one type per range - list it once (readwrite covers '
                                      'both).' % (other_index, index, describe_range(perm), other.type, perm.type))
            continue
        seen[rng] = (index, perm)
    return sorted((entry[1] for entry in seen.values()), key=_perm_sort_key)


def perm_from_actual(item):
    """A permission as the client returns it (``type`` any case, or an enum number) -> ``Perm``."""
    perm_type = item.get('type', item.get('perm_type', item.get('permType')))
    if perm_type is None or perm_type == '':
        perm_type = 'read'  # READ is enum value 0, which the JSON gateway omits
    if isinstance(perm_type, int) and not isinstance(perm_type, bool):
        perm_type = PERM_TYPES[perm_type] if 0 <= perm_type < len(PERM_TYPES) else str(perm_type)
    perm_type = str(perm_type).lower()
    key = item.get('key_bytes', item.get('key'))
    range_end = item.get('range_end_bytes', item.get('range_end'))
    return Perm(to_bytes(key), to_bytes(range_end), perm_type)


def _perm_sort_key(perm):
    return (perm.key, perm.range_end, perm.type)


def is_prefix(perm):
    if perm.key == ALL_KEYS and perm.range_end == ALL_KEYS:
        return True
    return bool(perm.range_end) and perm.range_end != ALL_KEYS and prefix_end(perm.key) == perm.range_end


def describe_range(perm):
    if perm.key == ALL_KEYS and perm.range_end == ALL_KEYS:
        return 'every key'
    if is_prefix(perm):
        return 'prefix %r' % to_text(perm.key)
    if not perm.range_end:
        return 'key %r' % to_text(perm.key)
    if perm.range_end == ALL_KEYS:
        return 'keys from %r on' % to_text(perm.key)
    return 'range [%r, %r)' % (to_text(perm.key), to_text(perm.range_end))


def perm_to_dict(perm):
    """``Perm`` -> result dict: the key (``""`` for the whole keyspace), the range end, prefix and type."""
    whole = perm.key == ALL_KEYS and perm.range_end == ALL_KEYS
    return dict(key='' if whole else to_text(perm.key), range_end=to_text(perm.range_end),
                prefix=is_prefix(perm), type=perm.type)


def _perm_line(perm):
    return '%s %s' % (perm.type, describe_range(perm))


def plan_permissions(desired, actual, exclusive):
    """-> (grants, revokes, after): grants are new ranges and ranges whose type changes (etcd replaces the type
    in place), revokes are actual ranges not desired (only when ``exclusive``)."""
    actual_by_range = {}
    for perm in actual:
        actual_by_range[(perm.key, perm.range_end)] = perm
    desired_by_range = dict(((p.key, p.range_end), p) for p in desired)
    grants = [p for p in desired if actual_by_range.get((p.key, p.range_end)) != p]
    revokes = []
    if exclusive:
        revokes = [p for rng, p in sorted(actual_by_range.items()) if rng not in desired_by_range]
    after = dict(actual_by_range)
    for perm in grants:
        after[(perm.key, perm.range_end)] = perm
    for perm in revokes:
        after.pop((perm.key, perm.range_end), None)
    return grants, revokes, sorted(after.values(), key=_perm_sort_key)


# ---------------------------------------------------------------------------------------------------- roles

def _check_name(kind, name):
    if not isinstance(name, str) or name == '':
        raise AuthPolicyError('%s name must be a non-empty string, got %r.' % (kind, name))


def plan_role(name, state, actual, desired_perms, exclusive, auth_enabled):
    """Desired role vs the actual one.

    ``actual``: None (role does not exist) or ``{'name', 'permissions': [client permission dicts]}``;
    ``desired_perms``: the raw ``permissions`` option (None = not managed, whatever ``exclusive`` says);
    returns ``RolePlan`` with ``actions`` = ``[('role_add', name) | ('grant', Perm) | ('revoke', Perm) |
    ('role_delete', name)]`` in the order to run them (grants before revokes, so a narrowed role never loses
    access it keeps in between)."""
    _check_name('role', name)
    if state not in ('present', 'absent'):
        raise AuthPolicyError('state must be present or absent, got %r.' % (state,))
    actual_perms = sorted((perm_from_actual(p) for p in (actual or {}).get('permissions') or []),
                          key=_perm_sort_key)
    before = role_view(name, actual_perms) if actual is not None else {}
    if state == 'absent':
        if desired_perms:
            raise AuthPolicyError('permissions are only used with state=present; remove them to delete role %s.'
                                  % name)
        if name == ROOT and auth_enabled:
            raise AuthPolicyError('The root role cannot be deleted while authentication is enabled; disable it '
                                  'first (etcd_auth state=disabled).')
        if actual is None:
            return RolePlan(False, [], before, {}, [])
        return RolePlan(True, [('role_delete', name)], before, {}, [])
    if name == ROOT:
        if desired_perms:
            raise AuthPolicyError('The root role has every permission on every key; do not list permissions '
                                  'for it.')
        actions = [] if actual is not None else [('role_add', name)]
        perms = actual_perms if actual is not None else []
        return RolePlan(bool(actions), actions, before, role_view(name, perms), perms)
    desired = normalize_permissions(desired_perms)
    actions = [] if actual is not None else [('role_add', name)]
    if desired_perms is None:
        # permissions not given: not managed (permissions: [] with exclusive_permissions revokes them all)
        after_perms = actual_perms
    else:
        grants, revokes, after_perms = plan_permissions(desired, actual_perms, exclusive)
        actions += [('grant', p) for p in grants] + [('revoke', p) for p in revokes]
    return RolePlan(bool(actions), actions, before, role_view(name, after_perms), after_perms)


def role_view(name, perms):
    """Role as returned by the module and shown in diffs."""
    return dict(name=name, permissions=[perm_to_dict(p) for p in perms])


# ---------------------------------------------------------------------------------------------------- users

def _normalize_roles(roles):
    if roles is None:
        return None
    if not isinstance(roles, (list, tuple)):
        raise AuthPolicyError('roles must be a list of role names, got %r.' % (roles,))
    out = []
    for index, role in enumerate(roles):
        if not isinstance(role, str) or role == '':
            raise AuthPolicyError('roles[%d] must be a non-empty role name, got %r.' % (index, role))
        if role not in out:
            out.append(role)
    return sorted(out)


def validate_user(name, state, password, no_password, update_password, roles, exclusive_roles):
    """Cross-field rules of etcd_user that do not depend on etcd's state."""
    _check_name('user', name)
    if state not in ('present', 'absent'):
        raise AuthPolicyError('state must be present or absent, got %r.' % (state,))
    if update_password not in UPDATE_PASSWORD:
        raise AuthPolicyError('update_password must be always or on_create, got %r.' % (update_password,))
    if password is not None and password == '':
        raise AuthPolicyError('user_password must not be empty; give a password, or no_password=true for a user '
                              'that logs in with a client certificate only.')
    if state == 'absent':
        extra = [opt for opt, val in (('user_password', password), ('roles', roles)) if val is not None]
        if no_password:
            extra.append('no_password')
        if exclusive_roles:
            extra.append('exclusive_roles')
        if extra:
            raise AuthPolicyError('%s only apply to state=present; remove them to delete user %s.'
                                  % (', '.join(extra), name))
        return
    if password is not None and no_password:
        raise AuthPolicyError('user_password and no_password=true exclude each other; choose one.')
    if exclusive_roles and roles is None:
        raise AuthPolicyError('exclusive_roles=true needs roles (roles: [] revokes every role of user %s).' % name)
    _normalize_roles(roles)


def password_check_needed(state, actual, password, update_password, auth_enabled):
    """Whether the module must authenticate as the user to learn if ``password`` is already set."""
    return (state == 'present' and actual is not None and password is not None and update_password == 'always'
            and bool(auth_enabled))


def user_view(name, roles):
    return dict(name=name, roles=list(roles))


def plan_user(name, state, actual, password=None, no_password=False, update_password='always', roles=None,
              exclusive_roles=False, auth_enabled=False, password_ok=None, existing_roles=None,
              check_mode=False):
    """Desired user vs the actual one.

    ``actual``: None (no such user) or ``{'name', 'roles': [...]}``; ``password_ok``: result of authenticating
    as the user with ``password`` (True/False), None when not checked; ``existing_roles``: names of the roles
    that exist (None = not known; then granting an unknown role fails in etcd instead of here).
    ``UserPlan.user`` is the user after the change (``{'name', 'roles'}``, ``{}`` when absent); ``before``/``after``
    are the diff (with a ``password`` marker when it changes).
    ``actions``: ``[('user_add', name) | ('grant_role', role) | ('revoke_role', role) |
    ('change_password', name) | ('user_delete', name)]`` in order (the password last: changing it invalidates
    the user's tokens, and the connection may be that user)."""
    validate_user(name, state, password, no_password, update_password, roles, exclusive_roles)
    actual_roles = sorted(set((actual or {}).get('roles') or []))
    before = user_view(name, actual_roles) if actual is not None else {}
    warnings = []
    if state == 'absent':
        if name == ROOT and auth_enabled and actual is not None:
            raise AuthPolicyError('The root user cannot be deleted while authentication is enabled; disable it '
                                  'first (etcd_auth state=disabled).')
        if actual is None:
            return UserPlan(False, [], before, {}, {}, False, warnings)
        return UserPlan(True, [('user_delete', name)], before, {}, {}, False, warnings)

    desired_roles = _normalize_roles(roles)
    actions = []
    password_changed = False
    if actual is None:
        if password is None and not no_password:
            raise AuthPolicyError('User %s does not exist: give user_password to create it, or no_password=true for a '
                                  'user that logs in with a client certificate (CommonName = user name) only.'
                                  % name)
        actions.append(('user_add', name))
        password_changed = password is not None
    grants = [r for r in (desired_roles or []) if r not in actual_roles]
    revokes = []
    if exclusive_roles:
        revokes = [r for r in actual_roles if r not in desired_roles]
    if name == ROOT and auth_enabled and ROOT in revokes:
        raise AuthPolicyError('The root role cannot be revoked from the root user while authentication is '
                              'enabled; add root to roles.')
    if existing_roles is not None:
        # etcd grants the root role without a stored role of that name (it is built in)
        missing = [r for r in grants if r not in existing_roles and r != ROOT]
        if missing:
            problem = ('Role(s) %s do not exist; create them first (etcdkit.etcd.etcd_role) or remove them from '
                       'roles.' % ', '.join(missing))
            if not check_mode:
                raise AuthPolicyError(problem)
            warnings.append(problem + ' (check mode: a task before this one may create them.)')
    actions += [('grant_role', r) for r in grants] + [('revoke_role', r) for r in revokes]
    if actual is not None and password is not None and update_password == 'always':
        if not auth_enabled:
            warnings.append('The password of existing user %s was not checked: etcd can only verify a password '
                            'while authentication is enabled, so it is left as it is; it is checked (and set if it '
                            'differs) on the first run after authentication is enabled.' % name)
        elif password_ok is None:
            raise AuthPolicyError('internal: the password of %s must be verified first' % name)
        elif not password_ok:
            actions.append(('change_password', name))
            password_changed = True
    after_roles = sorted((set(actual_roles) | set(grants)) - set(revokes))
    after = user = user_view(name, after_roles)
    if password_changed:
        # the diff says that the password changes, never what it is
        before = dict(before, password='(old)') if before else before
        after = dict(after, password='(new)')
    return UserPlan(bool(actions), actions, before, after, user, password_changed, warnings)


# ----------------------------------------------------------------------------------------------------- auth

def root_problem(root_user):
    """``root_user``: None or ``{'name', 'roles'}`` -> None when auth may be enabled, else what to create."""
    if root_user is None:
        return ('Authentication cannot be enabled: the user root does not exist. Create it first with a password '
                '(etcdkit.etcd.etcd_user name=root roles=[root]).')
    if ROOT not in (root_user.get('roles') or []):
        return ('Authentication cannot be enabled: the user root does not have the root role. Grant it first '
                '(etcdkit.etcd.etcd_user name=root roles=[root]).')
    return None


def plan_auth(state, enabled, root_user=None, check_mode=False):
    """``state``: enabled|disabled; ``enabled``: actual; ``root_user`` is only consulted to enable."""
    if state not in ('enabled', 'disabled'):
        raise AuthPolicyError('state must be enabled or disabled, got %r.' % (state,))
    if state == 'enabled':
        if enabled:
            return AuthPlan(False, [], True, [])
        problem = root_problem(root_user)
        if problem and not check_mode:
            raise AuthPolicyError(problem)
        warnings = [problem + ' (check mode: a task before this one may create it.)'] if problem else []
        return AuthPlan(True, [('auth_enable', None)], True, warnings)
    if not enabled:
        return AuthPlan(False, [], False, [])
    return AuthPlan(True, [('auth_disable', None)], False, [])


# -------------------------------------------------------------------------------------------- carrying out

class ActionFailed(CoreError):
    """An action of a plan failed. ``cause`` is the exception, ``done`` lists the actions (``'verb arg'``) carried
    out before it; the message names both, so a module can report a partial change honestly."""

    def __init__(self, cause, done, failed=None):
        text = getattr(cause, 'message', None) or str(cause)
        if done:
            text = '%s (done before this failure: %s; a new run completes the rest)' % (text, ', '.join(done))
        super(ActionFailed, self).__init__(text)
        self.cause = cause
        self.done = list(done)
        self.failed = failed  # label of the action that failed

    def to_dict(self):
        """The cause's ``to_dict()`` (a CoreError's), with the actions done."""
        to_dict = getattr(self.cause, 'to_dict', None)
        out = to_dict() if to_dict else dict(kind='error', message=str(self.cause))
        out['done'] = list(self.done)
        return out


def action_label(action):
    verb, arg = action
    if isinstance(arg, Perm):
        return '%s %s' % (verb, _perm_line(arg))
    return verb if arg is None else '%s %s' % (verb, arg)


def replanned_away(action, again):
    """A re-read plan ``again`` no longer holds ``action``: the action whose answer was lost was applied."""
    return action_label(action) not in [action_label(a) for a in again.actions]


def run_actions(actions, handlers, landed=None, warn=None):
    """Call ``handlers[verb](arg)`` for each action in order -> list of labels of the actions done.

    The first exception stops the run and is raised as ``ActionFailed`` with the actions done before it, so a
    module can report a partial change honestly. When an action's answer was lost (it may have been applied)
    and ``landed(action)`` is given, that re-reads: True means it was applied, ``warn`` (if given) is told so and
    the run goes on; otherwise ``ActionFailed`` says whether it was not applied or still may have been
    (``_verify.confirm``)."""
    done = []
    for action in actions:
        label = action_label(action)
        try:
            handlers[action[0]](action[1])
        except Exception as err:  # pylint: disable=broad-except
            if landed is None or not uncertain(err):
                raise ActionFailed(err, done, label)
            try:
                confirm(err, lambda: landed(action), 'the action %s' % label)
            except CoreError as final:
                raise ActionFailed(final, done, label)
            if warn is not None:
                warn(LANDED_WARNING % (label, 'connection lost'))
        done.append(label)
    return done
