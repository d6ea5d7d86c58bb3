#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_defrag
short_description: Defragment etcd members one at a time when a size rule says it is worth it
version_added: 0.1.0
description:
  - Reads the status of every member (through O(endpoints) and the client URLs of the member list), decides per
    member with a rule over the database size, the size in use, the free size and the quota usage, and
    defragments the members that match (or all with O(force=true)).
  - One member at a time, learners first, then followers, the leader last (the order is re-checked before each
    member, so a leadership change during the run still leaves the leader for the end).
  - Before each member a health gate must pass - every member healthy with a leader, a healthy quorum of voting
    members, one leader (an active C(NOSPACE) alarm does not close the gate, defragmentation is its cure). After
    each member the module waits until the member is healthy and has caught up with the leader. When the gate
    or the wait fails within O(wait_timeout), the remaining members are not touched and the module fails.
  - Optionally compacts the key history first (physical compaction), keeping the newest O(compact_keep_revisions)
    revisions, and waits for the members' sizes to settle before the rule is evaluated. In check mode the rule is
    evaluated on the sizes before the compaction. etcd recomputes the in-use size at its next write, so on an
    idle cluster the space freed by the compaction is seen by the rule of a later run.
  - The rule, with C(free = db_size - db_size_in_use) -
    C(free >= min_free_bytes and (free >= free_bytes_trigger or free / db_size >= min_free_ratio or
    db_size / quota_backend_bytes >= quota_usage_ratio)); a threshold of V(0) disables its clause.
  - Needs only the Python standard library on the target.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
  - etcdkit.etcd.attributes
  - etcdkit.etcd.attributes.action_group
options:
  force:
    description:
      - Defragment every member whatever the rule says.
    type: bool
    default: false
  min_free_bytes:
    description:
      - Never defragment a member with less than this many reclaimable bytes (unless O(force=true)).
    type: int
    default: 8388608
  free_bytes_trigger:
    description:
      - Defragment when at least this many bytes are reclaimable. V(0) disables this clause.
    type: int
    default: 104857600
  min_free_ratio:
    description:
      - Defragment when the reclaimable share of the database is at least this ratio. V(0) disables this clause.
    type: float
    default: 0.5
  quota_usage_ratio:
    description:
      - Defragment when the database size is at least this share of O(quota_backend_bytes). V(0) disables this clause.
    type: float
    default: 0.8
  quota_backend_bytes:
    description:
      - The backend quota of the members (C(--quota-backend-bytes)); etcd does not report it over its API. V(0)
        means etcd's default of 2 GiB.
    type: int
    default: 2147483648
    aliases: [quota_bytes]
  compact_keep_revisions:
    description:
      - Before defragmenting, compact the key history (physically) up to the current revision minus this number,
        so that the newest O(compact_keep_revisions) revisions stay readable. Nothing is compacted when the
        history is already compacted that far. Not set means no compaction.
    type: int
  wait_timeout:
    description:
      - Seconds to wait for the health gate before each member and for each member to catch up after its
        defragmentation.
    type: float
    default: 120
  max_raft_lag:
    description:
      - A member has caught up when its applied raft index is at most this far behind the leader's raft index.
    type: int
    default: 100
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Defragmentation blocks reads and writes on the member for its duration and rewrites its whole database file;
    it needs free disk space of about the database size.
  - Needs a user with the C(root) role when authentication is enabled.
seealso:
  - module: etcdkit.etcd.etcd_alarm
  - module: etcdkit.etcd.etcd_info
'''

EXAMPLES = r'''
- name: Defragment the members that have at least half of their database free (leader last)
  etcdkit.etcd.etcd_defrag:
    endpoints: https://10.0.0.11:2379
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/client.crt
    client_key: /etc/etcd/pki/client.key
  register: defrag

- name: Compact all but the last 10000 revisions, then defragment every member
  etcdkit.etcd.etcd_defrag:
    endpoints:
      - https://10.0.0.11:2379
      - https://10.0.0.12:2379
      - https://10.0.0.13:2379
    user: root
    password: "{{ etcd_root_password }}"
    compact_keep_revisions: 10000
    force: true

- name: Show what would be done
  etcdkit.etcd.etcd_defrag:
    endpoints: https://10.0.0.11:2379
    quota_backend_bytes: 8589934592
  check_mode: true
  register: plan
'''

RETURN = r'''
members:
  description:
    - Every member in the planned order (learners, followers, leader), with the rule's verdict and the sizes
      before and (when defragmented) after.
  returned: always
  type: list
  elements: dict
  sample:
    - name: etcd2
      member_id: 8e9e05c52164694d
      endpoint: https://10.0.0.12:2379
      role: follower
      defrag: true
      defragmented: true
      reasons: ["free ratio 0.8125 >= min_free_ratio 0.5"]
      before: {db_size: 33554432, db_size_in_use: 6291456}
      after: {db_size: 6352896, db_size_in_use: 6291456}
      seconds: 0.41
order:
  description: Names of the members defragmented by this run, in the order they were done (planned order in check mode).
  returned: always
  type: list
  elements: str
  sample: [etcd2, etcd3, etcd1]
compaction:
  description: What the compaction did, or would do in check mode. V(null) without O(compact_keep_revisions).
  returned: always
  type: dict
  sample: {revision: 1200, target: 200, compacted: true}
'''

import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import (
    compact_history,
    wait_caught_up,
    wait_for_gate,
    wait_sizes_settle,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag_rules import (
    DEFAULT_QUOTA_BYTES,
    DEFAULT_RULE,
    normalize_rule,
    order_members,
    plan as plan_defrag,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import DEFAULT_WAIT_TIMEOUT, EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id

ARGUMENT_SPEC = dict(
    force=dict(type='bool', default=False),
    min_free_bytes=dict(type='int', default=DEFAULT_RULE['min_free_bytes']),
    free_bytes_trigger=dict(type='int', default=DEFAULT_RULE['free_bytes_trigger']),
    min_free_ratio=dict(type='float', default=DEFAULT_RULE['min_free_ratio']),
    quota_usage_ratio=dict(type='float', default=DEFAULT_RULE['quota_usage_ratio']),
    quota_backend_bytes=dict(type='int', default=DEFAULT_QUOTA_BYTES, aliases=['quota_bytes']),
    compact_keep_revisions=dict(type='int'),
    wait_timeout=dict(type='float', default=DEFAULT_WAIT_TIMEOUT),
    max_raft_lag=dict(type='int', default=100),
)
RULE_OPTIONS = dict(min_free_bytes='min_free_bytes', free_bytes_trigger='free_bytes_trigger',
                    min_free_ratio='min_free_ratio', quota_usage_ratio='quota_usage_ratio',
                    quota_bytes='quota_backend_bytes')


def gate(module, what):
    """Wait for the health gate (an active NOSPACE alarm does not close it: defragmentation is its cure)."""
    view, dummy, problems = wait_for_gate(module.client, module.params['wait_timeout'], alarms=False,
                                          allow_nospace=True)
    if problems:
        module.fail('Health gate closed%s: %s' % (what, '; '.join(problems)))
    return view


def member_entries(view):
    out = []
    for member in view['members']:
        probe = view['status'].get(member['id']) or {}
        out.append(dict(
            name=member.get('name') or format_id(member['id']), member_id=format_id(member['id']),
            id=member['id'], endpoint=probe.get('endpoint'), is_learner=bool(member.get('is_learner')),
            is_leader=member['id'] == view.get('leader_id'), db_size=probe.get('db_size') or 0,
            db_size_in_use=probe.get('db_size_in_use') or 0,
        ))
    return out


def plan_members(module, view, rule):
    entries = member_entries(view)
    try:
        planned = plan_defrag(entries, rule, force=module.params['force'])
    except ValueError as exc:
        module.fail(str(exc))
    by_id = dict((e['member_id'], e) for e in entries)
    return [dict(name=item['name'], member_id=item['member_id'], endpoint=by_id[item['member_id']]['endpoint'],
                 role=item['role'], defrag=item['defrag'], defragmented=False, reasons=item['reasons'],
                 before=dict(db_size=item['db_size'], db_size_in_use=item['db_size_in_use']), after=None,
                 seconds=None) for item in planned]


def next_member(module, remaining, done_names):
    """Re-check the roles after the previous member (a leader election may have happened): the next one in order."""
    view = gate(module, ' after defragmenting %s; not touching %s' % (', '.join(done_names),
                                                                      ', '.join(m['name'] for m in remaining)))
    current = dict((e['member_id'], e) for e in member_entries(view))
    for m in remaining:
        cur = current.get(m['member_id'])
        if cur is not None:
            m['role'] = 'learner' if cur['is_learner'] else ('leader' if cur['is_leader'] else 'follower')
            m['endpoint'] = cur['endpoint'] or m['endpoint']
    nxt = order_members([dict(name=m['name'], member_id=m['member_id'], is_leader=m['role'] == 'leader',
                              is_learner=m['role'] == 'learner') for m in remaining])[0]
    return [m for m in remaining if m['member_id'] == nxt['member_id']][0]


def defragment(module, client, member):
    p = module.params
    started = time.time()
    try:
        status = client.status(member['endpoint'])
        member['before'] = dict(db_size=status['db_size'], db_size_in_use=status['db_size_in_use'])
        client.defragment(member['endpoint'])
    except EtcdError as err:
        raise EtcdError('Defragmentation of %s (%s) failed: %s; the remaining members were not touched.'
                        % (member['name'], member['endpoint'], err.message), kind=err.kind, endpoint=err.endpoint,
                        code=err.code, server_message=err.server_message, details=err.details)
    member['defragmented'] = True
    module.result['changed'] = True
    module.result['order'].append(member['name'])
    probe, problem = wait_caught_up(client, member['endpoint'], p['wait_timeout'], p['max_raft_lag'],
                                    is_learner=member['role'] == 'learner')
    member['seconds'] = round(time.time() - started, 3)
    member['after'] = dict(db_size=probe.get('db_size'), db_size_in_use=probe.get('db_size_in_use'))
    return problem


def run(module):
    p = module.params
    try:
        rule = normalize_rule(dict((k, p[v]) for k, v in RULE_OPTIONS.items()))
    except ValueError as exc:
        module.fail(str(exc))
    module.require_non_negative('compact_keep_revisions', 'max_raft_lag')
    module.require_positive('wait_timeout')
    module.result.update(members=[], order=[], compaction=None)
    client = module.client
    view = gate(module, ', nothing was done')
    if p['compact_keep_revisions'] is not None:
        module.result['compaction'] = compact_history(client, view, p['compact_keep_revisions'], module.check_mode)
        if module.result['compaction']['compacted']:
            module.result['changed'] = True
            if not module.check_mode:
                wait_sizes_settle(client, [x['endpoint'] for x in view['status'].values() if x.get('endpoint')],
                                  p['wait_timeout'])
                view = gate(module, ' after the compaction')
    members = module.result['members'] = plan_members(module, view, rule)
    todo = [m for m in members if m['defrag']]
    if module.check_mode:
        module.result['order'] = [m['name'] for m in todo]
        module.result['changed'] = module.result['changed'] or bool(todo)
        return
    done = []
    while len(done) < len(todo):
        remaining = [m for m in todo if m['member_id'] not in done]
        # the plan is in order (learners, followers, leader); later members are re-ordered after a gate
        member = next_member(module, remaining, module.result['order']) if done else remaining[0]
        problem = defragment(module, client, member)
        done.append(member['member_id'])
        if problem:
            left = [m['name'] for m in todo if m['member_id'] not in done]
            module.fail('%s did not become healthy and caught up within %ss after its defragmentation (%s)%s'
                        % (member['name'], p['wait_timeout'], problem,
                           '; not touching %s' % ', '.join(left) if left else ''))


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == '__main__':
    main()
