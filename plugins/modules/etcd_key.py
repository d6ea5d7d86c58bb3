#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_key
short_description: Set or delete keys in etcd
version_added: 0.1.0
description:
  - Sets a key to a value, or deletes a key or every key under a prefix, in an etcd v3 cluster.
  - Changes are made with a transaction that checks the key has not been modified since it was read, so a
    concurrent writer is never overwritten blindly.
  - Needs only the Python standard library on the target (no python-etcd3, unlike C(community.general.etcd3)).
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
  - etcdkit.etcd.attributes
  - etcdkit.etcd.attributes.action_group
options:
  key:
    description:
      - The key (UTF-8). With O(prefix=true), the prefix.
    type: str
    required: true
  value:
    description:
      - The value to store (UTF-8). Required with O(state=present).
    type: str
  state:
    description:
      - V(present) sets O(key) to O(value); V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  prefix:
    description:
      - With O(state=absent), delete every key that starts with O(key). Not allowed with O(state=present).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Shows the value before and after.
'''

EXAMPLES = r'''
- name: Store a feature flag
  etcdkit.etcd.etcd_key:
    endpoints: https://10.0.0.11:2379
    ca_cert: /etc/etcd/pki/ca.crt
    user: root
    password: "{{ etcd_root_password }}"
    key: /config/feature-x
    value: enabled

- name: Remove everything under /tmp/
  etcdkit.etcd.etcd_key:
    key: /tmp/
    prefix: true
    state: absent
'''

RETURN = r'''
key:
  description: The key or prefix.
  returned: always
  type: str
  sample: /config/feature-x
value:
  description: The value of the key after the task (null when it does not exist).
  returned: success and O(state=present)
  type: str
  sample: enabled
prev_value:
  description: The value before the task; null when the key did not exist.
  returned: success and O(prefix=false)
  type: str
  sample: disabled
revision:
  description: Store revision after the change, or when nothing changed the revision the key was read at.
  returned: success
  type: int
  sample: 42
deleted:
  description: Keys that were (in check mode - would be) deleted.
  returned: success and O(state=absent)
  type: list
  elements: str
  sample: ["/tmp/a", "/tmp/b"]
'''

from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils._verify import LANDED_WARNING, attempt

ARGUMENT_SPEC = dict(
    key=dict(type='str', required=True, no_log=False),
    value=dict(type='str'),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    prefix=dict(type='bool', default=False),
)
# a compare-and-swap that loses this many times in a row means another writer keeps changing the key
ATTEMPTS = 3


def check_params(module):
    p = module.params
    if p['key'] == '':
        module.fail('key must not be empty (an empty prefix would select every key in etcd).')
    if p['prefix'] and p['state'] == 'present':
        module.fail('prefix=true only works with state=absent; set one key at a time with state=present.')
    if p['state'] == 'absent' and p['value'] is not None:
        module.fail('value is only used with state=present; remove it or set state=present.')


def change(module, client, write, key, what, is_done, prefix=False):
    """Run ``write()``; when its answer is lost, re-read ``key`` and count the change as done when
    ``is_done(kvs)`` (else the error is raised saying whether it was applied). Returns ``(answered, result or
    the revision re-read)``."""
    state = {}

    def check():
        res = client.range(key, prefix=prefix)
        state['revision'] = res['revision']
        return is_done(res['kvs'])
    answered, result = attempt(write, check, what)
    if answered:
        return True, result
    module.warn(LANDED_WARNING % (what, 'connection lost or timed out'))
    return False, state['revision']


def set_value(module, client, key, value):
    for dummy in range(ATTEMPTS):
        res = client.range(key)
        seen = res['kvs'][0] if res['kvs'] else None
        before = seen['value'] if seen else None
        module.result.update(prev_value=before, value=value, revision=res['revision'])
        if seen is not None and seen['value_bytes'] == value.encode('utf-8'):
            module.result['value'] = before
            return
        if module._diff:
            module.result['diff'] = dict(before_header=key, after_header=key,
                                         before='' if before is None else before + '\n', after=value + '\n')
        if module.check_mode:
            module.result['changed'] = True
            return
        answered, res = change(module, client,
                               lambda: client.put_if_unchanged(key, value, seen['mod_revision'] if seen else 0),
                               key, 'the put of %s' % key,
                               lambda kvs: bool(kvs) and kvs[0]['value_bytes'] == value.encode('utf-8'))
        ok, revision = res if answered else (True, res)
        if ok:
            module.result.update(changed=True, revision=revision)
            return
    module.fail('key %s kept changing while it was being set; another writer is updating it' % key)


def delete(module, client, key, prefix):
    for dummy in range(ATTEMPTS):
        res = client.range(key, prefix=prefix)
        kvs = res['kvs']
        module.result.update(revision=res['revision'], deleted=[kv['key'] for kv in kvs])
        if not prefix:
            module.result['prev_value'] = kvs[0]['value'] if kvs else None
        if not kvs:
            return
        if module._diff:
            module.result['diff'] = dict(before_header=key, after_header=key,
                                         before=''.join('%s=%s\n' % (kv['key'], kv['value']) for kv in kvs),
                                         after='')
        if module.check_mode:
            module.result['changed'] = True
            return
        if prefix:
            answered, deleted = change(module, client, lambda: client.delete(key, prefix=True, prev_kv=True), key,
                                       'the deletion of the keys under %s' % key, lambda now: not now, prefix=True)
            if not answered:
                module.result.update(revision=deleted, changed=True)
                return
            module.result.update(deleted=[kv['key'] for kv in deleted['prev_kvs']], revision=deleted['revision'],
                                 changed=deleted['deleted'] > 0)
            return
        answered, res = change(module, client, lambda: client.delete_if_unchanged(key, kvs[0]['mod_revision']),
                               key, 'the deletion of %s' % key, lambda now: not now)
        ok, revision = res if answered else (True, res)
        if ok:
            module.result.update(changed=True, revision=revision)
            return
    module.fail('key %s kept changing while it was being deleted; another writer is updating it' % key)


def run(module):
    p = module.params
    check_params(module)
    module.result['key'] = p['key']
    if p['state'] == 'present':
        set_value(module, module.client, p['key'], p['value'])
    else:
        delete(module, module.client, p['key'], p['prefix'])


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                       required_if=[('state', 'present', ('value',))])


if __name__ == '__main__':
    main()
