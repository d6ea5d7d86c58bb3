#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_auth
short_description: Enable or disable authentication on an etcd cluster
version_added: 0.2.0
description:
  - Enables or disables etcd's authentication (user and role checks on every request), through etcd's v3 JSON
    gateway.
  - Before enabling, the module checks that the user C(root) exists and has the role C(root) (etcd refuses
    otherwise) and fails naming what to create (with M(etcdkit.etcd.etcd_user)); nothing is changed then.
  - After enabling, when O(user) is set, the module logs in with O(user) and O(password) to prove that the cluster
    can still be managed, and fails (reporting the change) when that does not work.
  - Disabling needs O(user) and O(password) of a user with the C(root) role.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
  - etcdkit.etcd.attributes
  - etcdkit.etcd.attributes.action_group
options:
  state:
    description:
      - V(enabled) turns authentication on; V(disabled) turns it off.
    type: str
    choices: [enabled, disabled]
    default: enabled
attributes:
  check_mode:
    support: full
    details: A missing C(root) user or role is a warning in check mode (an earlier task may create it), and an error
      otherwise.
  diff_mode:
    support: full
    details: Shows whether authentication is enabled before and after.
seealso:
  - module: etcdkit.etcd.etcd_user
  - module: etcdkit.etcd.etcd_role
notes:
  - With authentication and client-certificate authentication both enabled, etcd's JSON gateway rejects client
    certificates that carry a CommonName; connect with a certificate without CN together with O(user) and
    O(password).
'''

EXAMPLES = r'''
- name: Root user with the root role, then authentication on
  module_defaults:
    group/etcdkit.etcd.etcd:
      endpoints: https://10.0.0.11:2379
      ca_cert: /etc/etcd/pki/ca.crt
      client_cert: /etc/etcd/pki/gateway-client.crt
      client_key: /etc/etcd/pki/gateway-client.key
      user: root
      password: "{{ etcd_root_password }}"
  block:
    - name: Root user
      etcdkit.etcd.etcd_user:
        name: root
        user_password: "{{ etcd_root_password }}"
        roles: [root]

    - name: Authentication on
      etcdkit.etcd.etcd_auth:
        state: enabled
'''

RETURN = r'''
enabled:
  description: Whether authentication is enabled after the task (in check mode - would be).
  returned: success
  type: bool
  sample: true
'''

from ansible_collections.etcdkit.etcd.plugins.module_utils._auth import (
    ActionFailed,
    ROOT,
    plan_auth,
    run_actions,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule


def landed(client, enabled):
    """The answer to switching authentication was lost: is it now as wanted?"""
    client.transport.forget_tokens()
    return client.auth_status()['enabled'] == enabled


def run(module):
    state = module.params['state']
    client = module.client
    enabled = client.auth_status()['enabled']
    root_user = client.user_get(ROOT) if state == 'enabled' and not enabled else None
    plan = plan_auth(state, enabled, root_user, check_mode=module.check_mode)
    for warning in plan.warnings:
        module.warn(warning)
    result = module.result
    result.update(changed=plan.changed, enabled=plan.enabled)
    if module._diff:
        result['diff'] = dict(before=dict(enabled=enabled), after=dict(enabled=plan.enabled))
    if module.check_mode or not plan.changed:
        return result
    try:
        run_actions(plan.actions, dict(auth_enable=lambda arg: client.auth_enable(),
                                       auth_disable=lambda arg: client.auth_disable()),
                    landed=lambda action: landed(client, plan.enabled), warn=module.warn)
    except ActionFailed:
        result.update(changed=False, enabled=enabled)
        result.pop('diff', None)
        raise
    if plan.enabled and client.user:
        # prove that the cluster can still be managed: a call that needs a token, with the connection's
        # user and password (the client forgot its tokens when auth was switched)
        try:
            client.auth_status()
        except EtcdError as err:
            user = client.user
            raise EtcdError('Authentication is now enabled, but user %s cannot log in: %s Set password to the password '
                            'that %s has in etcd.' % (user, err.message, user), kind=err.kind, endpoint=err.endpoint,
                            code=err.code, status=err.status, server_message=err.server_message)
    elif plan.enabled:
        module.warn('Authentication is now enabled: every further call needs user and password (a user with the '
                    'root role for administration).')
    return result


ARGUMENT_SPEC = dict(
    state=dict(type='str', default='enabled', choices=['enabled', 'disabled']),
)


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == '__main__':
    main()
