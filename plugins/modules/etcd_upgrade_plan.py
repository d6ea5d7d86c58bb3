#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_upgrade_plan
short_description: Decide (and gate) a rolling upgrade of an etcd cluster
version_added: 0.2.0
description:
  - Reads the version every member runs, the leader and whether etcd authentication is on, and decides a rolling
    upgrade to O(target_version) by etcd's upgrade policy. Changes nothing.
  - Refuses (fails, with every reason in RV(problems)) a downgrade, a skipped minor version (etcd upgrades one minor
    at a time), a minor upgrade to 3.6 from below 3.5.32 (the minimum patch of etcd's 3.5 to 3.6 upgrade guide), a
    rolling 3.4 to 3.5 upgrade with etcd authentication on, and a cluster where a member does not report its version.
  - RV(pending) lists the members still to upgrade, followers first and the leader last; RV(next) is the first.
  - With O(check_hashkv=true) it also reads the key space of every member at one revision (serializable ranges
    from the member itself) and compares SHA-256 digests over every key, value and key revision; it fails when a
    member does not answer or the digests differ (the C(hashkv) gate before and after each member). This is
    not etcd's HashKV - the JSON gateway answers C(/v3/maintenance/hash) with Hash, a hash of the whole backend that
    differs between healthy members - but the same question (equal key spaces at one revision), and it works on
    etcd 3.4, 3.5 and 3.6 alike.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
  - etcdkit.etcd.attributes
  - etcdkit.etcd.attributes.action_group
options:
  target_version:
    description:
      - The etcd release to upgrade to, C(X.Y.Z).
    type: str
    required: true
  check_hashkv:
    description:
      - Also compare the key-space digests of all members at one revision.
    type: bool
    default: false
  fail_on_refusal:
    description:
      - Fail when the upgrade is refused. V(false) reports the refusal in RV(decision) and RV(problems) only.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to keep asking for the digests while a member has not applied the revision yet or does not answer.
    type: float
    default: 120
attributes:
  check_mode:
    support: full
    details: The module never changes anything.
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Plan the upgrade and gate on equal hashes
  etcdkit.etcd.etcd_upgrade_plan:
    endpoints: [https://10.0.0.11:2379, https://10.0.0.12:2379, https://10.0.0.13:2379]
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/gateway.crt
    client_key: /etc/etcd/pki/gateway.key
    target_version: 3.5.33
    check_hashkv: true
  register: plan
'''

RETURN = r'''
decision:
  description: V(none) (every member runs the target), V(patch), V(minor) or V(refused).
  returned: always
  type: str
  sample: patch
versions:
  description: Version each member runs, by member name (null when it did not answer).
  returned: success
  type: dict
  sample: {"etcd1": "3.5.16", "etcd2": "3.5.33", "etcd3": "3.5.16"}
leader:
  description: Name of the current leader.
  returned: success
  type: str
  sample: etcd1
pending:
  description: Members that do not run the target yet, followers first and the leader last.
  returned: success
  type: list
  elements: str
  sample: ["etcd3", "etcd1"]
next:
  description: The member to upgrade next (first of RV(pending)); null when there is none.
  returned: success
  type: str
  sample: etcd3
v2store_check:
  description: Whether a member still has to pass C(etcdutl check v2store) before it runs the target (3.5 to 3.6).
  returned: success
  type: bool
  sample: false
auth_enabled:
  description: Whether etcd authentication is on.
  returned: success
  type: bool
  sample: false
problems:
  description: Why the upgrade is refused or why the hashkv gate failed; empty when all is well.
  returned: always
  type: list
  elements: str
  sample: []
hashkv:
  description: SHA-256 digest of each member's key space at RV(hashkv_revision), by member name (null when the member
    did not answer).
  returned: when O(check_hashkv=true)
  type: dict
  sample: {"etcd1": "9f86d081884c7d65...", "etcd2": "9f86d081884c7d65...", "etcd3": "9f86d081884c7d65..."}
hashkv_revision:
  description: The revision the digests were taken at.
  returned: when O(check_hashkv=true)
  type: int
  sample: 5120
hashkv_keys:
  description: Number of keys each member holds at RV(hashkv_revision), by member name.
  returned: when O(check_hashkv=true)
  type: dict
  sample: {"etcd1": 1600, "etcd2": 1600, "etcd3": 1600}
'''

import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import cluster_view
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils._upgrade import (
    auth_enabled,
    compare_hashes,
    hash_round,
    plan_upgrade,
)

ARGUMENT_SPEC = dict(
    target_version=dict(type='str', required=True),
    check_hashkv=dict(type='bool', default=False),
    fail_on_refusal=dict(type='bool', default=True),
    wait_timeout=dict(type='float', default=120),
)


def run(module):
    p = module.params
    module.require_non_negative('wait_timeout')
    client = module.client
    view = cluster_view(client)
    names = dict((m['id'], m['name']) for m in view['members'])
    versions = dict((m['name'], (view['status'].get(m['id']) or {}).get('version')) for m in view['members'])
    auth = auth_enabled(client, versions)
    plan = plan_upgrade(versions, p['target_version'], leader=names.get(view['leader_id']), auth_enabled=auth)
    module.result.update(decision=plan['action'], versions=versions, leader=names.get(view['leader_id']),
                         pending=plan['pending'], next=plan['next'], v2store_check=plan['v2store_check'],
                         auth_enabled=auth, problems=list(plan['problems']))
    if plan['problems'] and p['fail_on_refusal']:
        module.fail('Refusing the upgrade to %s: %s' % (p['target_version'], ' '.join(plan['problems'])))
    if not p['check_hashkv']:
        return
    deadline = time.time() + p['wait_timeout']
    while True:
        hashes, revision, errors = hash_round(client, view['members'], view['status'])
        problems = compare_hashes(hashes)
        if not problems or time.time() >= deadline or (not errors and any('different data' in x for x in problems)
                                                       and revision):
            break
        time.sleep(1)
        view = cluster_view(client)
    module.result.update(hashkv=dict((n, h['hash'] if h else None) for n, h in hashes.items()),
                         hashkv_keys=dict((n, h['count'] if h else None) for n, h in hashes.items()),
                         hashkv_revision=revision)
    if problems:
        module.result['problems'] += problems + errors
        module.fail('hashkv gate failed at revision %s: %s' % (revision, ' '.join(problems + errors)))


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == '__main__':
    main()
