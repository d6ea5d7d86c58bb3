#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_user
short_description: Manage etcd users, their passwords and their roles
version_added: 0.2.0
description:
  - Creates, updates or deletes a user of etcd's authentication store, sets its password and grants or revokes its
    roles, through etcd's v3 JSON gateway.
  - The user's password (O(user_password)) is sent in the body of an HTTPS request, never on a command line or to an C(etcdctl) prompt, so
    any character (spaces included) is kept.
  - etcd cannot show a stored password. While authentication is enabled, the module checks O(user_password) by
    authenticating as the user and changes it only when that fails, so a second run reports no change.
    While authentication is disabled, etcd refuses every authentication, so the password of an existing user
    cannot be checked; it is then left as it is (a warning says so) and checked on the first run after
    authentication has been enabled, for example with M(etcdkit.etcd.etcd_auth).
  - Connecting needs a user with the C(root) role when authentication is enabled (see O(user)).
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
  - etcdkit.etcd.attributes
  - etcdkit.etcd.attributes.action_group
options:
  name:
    description:
      - The user name. With client-certificate authentication, the CommonName of a certificate logs in as the user
        of that name.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the user; V(absent) deletes it.
      - etcd refuses to delete the C(root) user while authentication is enabled; the module fails before
        changing anything.
    type: str
    choices: [present, absent]
    default: present
  user_password:
    description:
      - The managed user's password. Required to create a user unless O(no_password=true).
      - Never logged. See O(update_password) for existing users.
      - Not to be confused with O(password), the password of O(user) that the module logs in with.
    type: str
  update_password:
    description:
      - V(always) sets O(user_password) on an existing user when it differs (checked by authenticating as the user,
        which needs authentication to be enabled - see the description).
      - V(on_create) only uses O(user_password) when the user is created.
    type: str
    choices: [always, on_create]
    default: always
  no_password:
    description:
      - Create the user without a password, for a client that logs in with a client certificate only (its
        CommonName is the user name). Excludes O(user_password).
      - etcd keeps such a user without password for good; to give it one, delete and re-create it.
    type: bool
    default: false
  roles:
    description:
      - Roles the user must have. Each role must exist (create it with M(etcdkit.etcd.etcd_role)).
      - When not given, the user's roles are not changed.
    type: list
    elements: str
  exclusive_roles:
    description:
      - Revoke every role of the user that is not in O(roles). Needs O(roles) (V([]) revokes all).
      - etcd refuses to revoke the C(root) role from the C(root) user while authentication is enabled; the
        module fails before changing anything.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - Checking a password authenticates as the user, which changes no data.
      - A role in O(roles) that does not exist is a warning in check mode (an earlier task may create it), and an
        error otherwise.
  diff_mode:
    support: full
    details: Shows the user's roles before and after, and whether the password changes (never the password).
seealso:
  - module: etcdkit.etcd.etcd_role
  - module: etcdkit.etcd.etcd_auth
notes:
  - Changing a user's password ends the user's sessions (etcd invalidates its tokens); the module changes the
    password after the roles, so a play that connects as the same user only needs the new password afterwards.
'''

EXAMPLES = r'''
- name: Root user (a password with spaces is fine)
  etcdkit.etcd.etcd_user:
    endpoints: https://10.0.0.11:2379
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/gateway-client.crt
    client_key: /etc/etcd/pki/gateway-client.key
    user: root
    password: "{{ etcd_root_password }}"
    name: root
    user_password: "{{ etcd_root_password }}"
    roles: [root]

- name: An application user limited to its role, and nothing else
  etcdkit.etcd.etcd_user:
    name: patroni
    user_password: "{{ patroni_etcd_password }}"
    roles: [patroni]
    exclusive_roles: true

- name: A user that logs in with a client certificate (CN=backup) only
  etcdkit.etcd.etcd_user:
    name: backup
    no_password: true
    roles: [backup-reader]

- name: Remove a user
  etcdkit.etcd.etcd_user:
    name: old-app
    state: absent
'''

RETURN = r'''
user:
  description: The user after the task (in check mode - as it would be); empty when it does not exist.
  returned: success
  type: dict
  contains:
    name:
      description: User name.
      type: str
      sample: patroni
    roles:
      description: Roles of the user, sorted.
      type: list
      elements: str
      sample: [patroni]
  sample: {"name": "patroni", "roles": ["patroni"]}
password_changed:
  description: Whether the password was (in check mode - would be) set, on creation or because it differed.
  returned: success
  type: bool
  sample: false
password_verified:
  description:
    - Whether O(user_password) was verified by authenticating as the existing user; V(false) when that was not
      possible (authentication disabled, O(update_password=on_create), new user or no O(user_password)).
  returned: success
  type: bool
  sample: true
auth_enabled:
  description: Whether authentication is enabled on the cluster.
  returned: success
  type: bool
  sample: true
actions:
  description: The changes made (in check mode - that would be made), in order.
  returned: success
  type: list
  elements: str
  sample: ["user_add patroni", "grant_role patroni"]
'''

from ansible_collections.etcdkit.etcd.plugins.module_utils._auth import (
    ActionFailed,
    action_label,
    password_check_needed,
    plan_user,
    replanned_away,
    run_actions,
    validate_user,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule


def plan_now(module, client, enabled):
    """Read the user (and try its password when that decides something) and plan: ``(password_ok, plan)``."""
    p = module.params
    name, state, password = p['name'], p['state'], p['user_password']
    actual = client.user_get(name)
    password_ok = None
    if password_check_needed(state, actual, password, p['update_password'], enabled):
        # etcd cannot show a password: try it (this changes nothing, also fine in check mode)
        password_ok = client.authenticate(name, password)
    existing_roles = client.role_list() if state == 'present' and p['roles'] else None
    plan = plan_user(name, state, actual, password=password, no_password=p['no_password'],
                     update_password=p['update_password'], roles=p['roles'], exclusive_roles=p['exclusive_roles'],
                     auth_enabled=enabled, password_ok=password_ok, existing_roles=existing_roles,
                     check_mode=module.check_mode)
    return password_ok, plan


def landed(module, client, action, enabled):
    """The answer to ``action`` was lost: re-read whether it was applied (its action is no longer planned)."""
    if action[0] == 'change_password':
        if not enabled:
            raise CoreError('etcd cannot check a password while authentication is disabled')
        return client.authenticate(module.params['name'], module.params['user_password'])
    return replanned_away(action, plan_now(module, client, enabled)[1])


def run(module):
    p = module.params
    name, state, password = p['name'], p['state'], p['user_password']
    # input errors first, before anything is sent to etcd
    validate_user(name, state, password, p['no_password'], p['update_password'], p['roles'], p['exclusive_roles'])
    client = module.client
    enabled = client.auth_status()['enabled']
    password_ok, plan = plan_now(module, client, enabled)
    for warning in plan.warnings:
        module.warn(warning)
    result = module.result
    result.update(changed=plan.changed, user=plan.user, password_changed=plan.password_changed,
                  password_verified=bool(password_ok), auth_enabled=enabled,
                  actions=[action_label(a) for a in plan.actions])
    if module._diff:
        result['diff'] = dict(before=plan.before, after=plan.after)
    if module.check_mode or not plan.changed:
        return result
    handlers = dict(
        user_add=lambda arg: client.user_add(name, password, no_password=p['no_password']),
        grant_role=lambda role: client.user_grant_role(name, role),
        revoke_role=lambda role: client.user_revoke_role(name, role),
        change_password=lambda arg: client.user_change_password(name, password),
        user_delete=lambda arg: client.user_delete(name),
    )
    try:
        run_actions(plan.actions, handlers, landed=lambda action: landed(module, client, action, enabled),
                    warn=module.warn)
    except ActionFailed as err:
        # honest about a partial change: what was done before the failure stays done
        result.update(changed=bool(err.done), actions=err.done, password_changed=False)
        result.pop('diff', None)
        result.pop('user', None)
        raise
    if plan.password_changed and enabled and not client.authenticate(name, password):
        module.fail('The password of user %s was set, but etcd still rejects it. A user created with no_password '
                    'keeps no password for good: delete it and create it again with a password.' % name)
    return result


ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    user_password=dict(type='str', no_log=True),
    update_password=dict(type='str', default='always', choices=['always', 'on_create'], no_log=False),
    no_password=dict(type='bool', default=False, no_log=False),
    roles=dict(type='list', elements='str'),
    exclusive_roles=dict(type='bool', default=False),
)


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == '__main__':
    main()
