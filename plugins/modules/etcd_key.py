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
    description: Reports what would be set or deleted without changing etcd.
  diff_mode:
    support: full
    description: Shows the old and the new value, or the deleted keys and values.
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

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import b64, EtcdError, to_int
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule


def _put_if_unchanged(client, key, value, seen):
    """Put only if the key is as we read it (mod_revision, or absent). Returns (ok, revision)."""
    if seen is None:
        compare = [{'key': b64(key), 'target': 'CREATE', 'result': 'EQUAL', 'create_revision': '0'}]
    else:
        compare = [{'key': b64(key), 'target': 'MOD', 'result': 'EQUAL', 'mod_revision': str(seen['mod_revision'])}]
    raw = client.txn(compare, [{'request_put': {'key': b64(key), 'value': b64(value)}}])
    return bool(raw.get('succeeded')), to_int((raw.get('header') or {}).get('revision'))


def _delete_if_unchanged(client, key, seen):
    compare = [{'key': b64(key), 'target': 'MOD', 'result': 'EQUAL', 'mod_revision': str(seen['mod_revision'])}]
    raw = client.txn(compare, [{'request_delete_range': {'key': b64(key)}}])
    return bool(raw.get('succeeded')), to_int((raw.get('header') or {}).get('revision'))


def run(module):
    p = module.params
    key, value, state, prefix = p['key'], p['value'], p['state'], p['prefix']
    client = module.client
    result = dict(changed=False, key=key)
    if state == 'present':
        for attempt in range(3):
            res = client.range(key)
            seen = res['kvs'][0] if res['kvs'] else None
            before = seen['value'] if seen else None
            result.update(prev_value=before, value=value, revision=res['revision'])
            if seen is not None and seen['value_bytes'] == value.encode('utf-8'):
                result['value'] = before
                return result
            result['changed'] = True
            if module._diff:
                result['diff'] = dict(before_header=key, after_header=key,
                                      before='' if before is None else before + '\n', after=value + '\n')
            if module.check_mode:
                return result
            ok, revision = _put_if_unchanged(client, key, value, seen)
            if ok:
                result['revision'] = revision
                return result
        module.fail_json(msg='key %s kept changing while it was being set; another writer is updating it' % key,
                         changed=False, key=key)
    # absent
    for attempt in range(3):
        res = client.range(key, prefix=prefix)
        kvs = res['kvs']
        result.update(revision=res['revision'], deleted=[kv['key'] for kv in kvs])
        if not prefix:
            result['prev_value'] = kvs[0]['value'] if kvs else None
        if not kvs:
            return result
        result['changed'] = True
        if module._diff:
            result['diff'] = dict(before_header=key, after_header=key,
                                  before=''.join('%s=%s\n' % (kv['key'], kv['value']) for kv in kvs), after='')
        if module.check_mode:
            return result
        if prefix:
            deleted = client.delete(key, prefix=True, prev_kv=True)
            result['deleted'] = [kv['key'] for kv in deleted['prev_kvs']]
            result['revision'] = deleted['revision']
            result['changed'] = deleted['deleted'] > 0
            return result
        ok, revision = _delete_if_unchanged(client, key, kvs[0])
        if ok:
            result['revision'] = revision
            return result
    module.fail_json(msg='key %s kept changing while it was being deleted; another writer is updating it' % key,
                     changed=False, key=key)


def main():
    module = EtcdModule(
        argument_spec=dict(
            key=dict(type='str', required=True, no_log=False),
            value=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            prefix=dict(type='bool', default=False),
        ),
        required_if=[('state', 'present', ('value',))],
        supports_check_mode=True,
    )
    p = module.params
    if p['key'] == '':
        module.fail_json(msg='key must not be empty (an empty prefix would select every key in etcd).')
    if p['prefix'] and p['state'] == 'present':
        module.fail_json(msg='prefix=true only works with state=absent; set one key at a time with state=present.')
    if p['state'] == 'absent' and p['value'] is not None:
        module.fail_json(msg='value is only used with state=present; remove it or set state=present.')
    try:
        result = run(module)
    except EtcdError as err:
        module.fail_etcd(err, key=p['key'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
