#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_role
short_description: Manage etcd roles and their key-range permissions
version_added: 0.2.0
description:
  - Creates, updates or deletes a role of etcd's authentication store and grants or revokes its permissions on
    keys, key prefixes and key ranges, through etcd's v3 JSON gateway.
  - Typical use is one role per application, limited to the application's key prefix (for example
    C(/service/app/)), granted to the application's user with M(etcdkit.etcd.etcd_user).
  - Permissions are compared by range (key and range end); a range listed with another type than the role has is
    updated in place. New permissions are granted before unlisted ones are revoked, so a client never loses access
    that it keeps.
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
      - The role name.
      - The C(root) role has every permission on every key; the module can make sure it exists, but refuses
        O(permissions) for it, and etcd refuses to delete it while authentication is enabled.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the role; V(absent) deletes it (etcd also revokes it from every user).
    type: str
    choices: [present, absent]
    default: present
  permissions:
    description:
      - Permissions the role must have. When not given, the role's permissions are not changed.
      - V([]) with O(exclusive_permissions=true) revokes every permission.
    type: list
    elements: dict
    suboptions:
      key:
        description:
          - The key; with O(permissions[].prefix=true) the key prefix (V("") with O(permissions[].prefix=true) is
            the whole keyspace); with O(permissions[].range_end) the first key of the range.
        type: str
        required: true
      prefix:
        description:
          - The permission covers every key that starts with O(permissions[].key).
          - Excludes O(permissions[].range_end).
        type: bool
        default: false
      range_end:
        description:
          - End of the range C([key, range_end)) (exclusive); must sort after O(permissions[].key). A single NUL
            character means every key from O(permissions[].key) on.
          - When neither this nor O(permissions[].prefix) is set, the permission covers the single key.
        type: str
      type:
        description:
          - What the role may do in the range.
        type: str
        choices: [read, write, readwrite]
        default: readwrite
  exclusive_permissions:
    description:
      - Revoke every permission of the role that is not in O(permissions) (compared by range).
      - Only used when O(permissions) is given.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Shows the role's permissions before and after.
seealso:
  - module: etcdkit.etcd.etcd_user
  - module: etcdkit.etcd.etcd_auth
'''

EXAMPLES = r'''
- name: Role for an application, limited to its key prefix
  etcdkit.etcd.etcd_role:
    endpoints: https://10.0.0.11:2379
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/gateway-client.crt
    client_key: /etc/etcd/pki/gateway-client.key
    user: root
    password: "{{ etcd_root_password }}"
    name: app
    permissions:
      - key: /service/app/
        prefix: true

- name: Read-only access to one key and a range; other permissions of the role are kept
  etcdkit.etcd.etcd_role:
    name: monitoring
    permissions:
      - key: /config/cluster-name
        type: read
      - key: /metrics/a
        range_end: /metrics/n
        type: read
    exclusive_permissions: false

- name: Remove a role
  etcdkit.etcd.etcd_role:
    name: old-app
    state: absent
'''

RETURN = r'''
role:
  description: The role after the task (in check mode - as it would be); empty when it does not exist.
  returned: success
  type: dict
  contains:
    name:
      description: Role name.
      type: str
      sample: app
    permissions:
      description: Permissions of the role, sorted by key.
      type: list
      elements: dict
      contains:
        key:
          description: First key of the range (the prefix when RV(role.permissions[].prefix) is true).
          type: str
        range_end:
          description: End of the range (exclusive); empty for a single key.
          type: str
        prefix:
          description: Whether the range is every key starting with RV(role.permissions[].key).
          type: bool
        type:
          description: V(read), V(write) or V(readwrite).
          type: str
  sample:
    name: app
    permissions:
      - {"key": "/service/app/", "range_end": "/service/app0", "prefix": true, "type": "readwrite"}
actions:
  description: The changes made (in check mode - that would be made), in order.
  returned: success
  type: list
  elements: str
  sample: ["role_add app", "grant readwrite prefix '/service/app/'"]
'''

from ansible_collections.etcdkit.etcd.plugins.module_utils._auth import (
    ActionFailed,
    action_label,
    normalize_permissions,
    plan_role,
    replanned_away,
    run_actions,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule


def landed(module, client, action, enabled):
    """The answer to ``action`` was lost: re-read whether it was applied (its action is no longer planned)."""
    p = module.params
    return replanned_away(action, plan_role(p['name'], p['state'], client.role_get(p['name']), p['permissions'],
                                            p['exclusive_permissions'], enabled))


def run(module):
    p = module.params
    name, state = p['name'], p['state']
    # input errors first, before anything is sent to etcd
    normalize_permissions(p['permissions'])
    client = module.client
    enabled = client.auth_status()['enabled']
    actual = client.role_get(name)
    plan = plan_role(name, state, actual, p['permissions'], p['exclusive_permissions'], enabled)
    result = module.result
    result.update(changed=plan.changed, role=plan.after, actions=[action_label(a) for a in plan.actions])
    if module._diff:
        result['diff'] = dict(before=plan.before, after=plan.after)
    if module.check_mode or not plan.changed:
        return result
    handlers = dict(
        role_add=lambda arg: client.role_add(name),
        grant=lambda perm: client.role_grant_permission(name, perm.type, perm.key, perm.range_end),
        revoke=lambda perm: client.role_revoke_permission(name, perm.key, perm.range_end),
        role_delete=lambda arg: client.role_delete(name),
    )
    try:
        run_actions(plan.actions, handlers, landed=lambda action: landed(module, client, action, enabled),
                    warn=module.warn)
    except ActionFailed as err:
        # honest about a partial change: what was done before the failure stays done
        result.update(changed=bool(err.done), actions=err.done)
        result.pop('diff', None)
        result.pop('role', None)
        raise
    return result


ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    permissions=dict(type='list', elements='dict', options=dict(
        key=dict(type='str', required=True, no_log=False),
        prefix=dict(type='bool', default=False),
        range_end=dict(type='str'),
        type=dict(type='str', default='readwrite', choices=['read', 'write', 'readwrite']),
    )),
    exclusive_permissions=dict(type='bool', default=True),
)


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == '__main__':
    main()
