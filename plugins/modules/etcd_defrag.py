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
    member, so a leadership change during the run still leaves the leader for the end). Before the leader's turn
    its leadership is moved to a healthy, caught-up voting member (preferably one already defragmented), so no
    member is defragmented while it leads (O(move_leader)).
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
  move_leader:
    description:
      - Before the leader's turn, move its leadership to a healthy voting member that is at most O(max_raft_lag)
        behind, and wait until the cluster is healthy under the new leader. When no member can take it the module
        fails without defragmenting the leader. A cluster with one voting member is defragmented without a move.
    type: bool
    default: true
  members:
    description:
      - Names of the members to consider. The others are listed in RV(members) with C(defrag=false). Not set means
        every member.
    type: list
    elements: str
  free_space:
    description:
      - Free bytes of the file system of each member's data dir, by member name, for members whose data dir is on
        a RAM disk (tmpfs). Defragmentation writes a copy of the database next to it; a member with less free
        space than its in-use size plus O(space_reserve_bytes) is refused, and then nothing is defragmented. A
        member without an entry (or V(null)) is not checked.
    type: dict
  space_reserve_bytes:
    description:
      - Headroom on top of the in-use size that O(free_space) must leave for the copy.
    type: int
    default: 67108864
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
      before and (when defragmented) after; C(moved_leadership_to) names the member that took over the leadership
      before this member's turn.
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
      moved_leadership_to: etcd3
      before: {db_size: 33554432, db_size_in_use: 6291456}
      after: {db_size: 6352896, db_size_in_use: 6291456}
      seconds: 0.41
order:
  description: Names of the members defragmented by this run, in the order they were done (planned order in check mode).
  returned: always
  type: list
  elements: str
  sample: [etcd2, etcd3, etcd1]
leader_moves:
  description: Leadership moves done before the leader's turn (names), with the seconds until the gate opened again.
  returned: always
  type: list
  elements: dict
  sample: [{from: etcd1, to: etcd2, seconds: 0.35}]
compaction:
  description: What the compaction did, or would do in check mode. V(null) without O(compact_keep_revisions).
  returned: always
  type: dict
  sample: {revision: 1200, target: 200, compacted: true}
'''

from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag import DEFAULT_SPACE_RESERVE, run_defrag
from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag_rules import DEFAULT_QUOTA_BYTES, DEFAULT_RULE
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import DEFAULT_WAIT_TIMEOUT, EtcdModule

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
    move_leader=dict(type='bool', default=True),
    members=dict(type='list', elements='str'),
    free_space=dict(type='dict'),
    space_reserve_bytes=dict(type='int', default=DEFAULT_SPACE_RESERVE),
)
RULE_OPTIONS = dict(min_free_bytes='min_free_bytes', free_bytes_trigger='free_bytes_trigger',
                    min_free_ratio='min_free_ratio', quota_usage_ratio='quota_usage_ratio',
                    quota_bytes='quota_backend_bytes')


def free_space_map(module):
    """``free_space`` as {member name: int bytes or None}; a value that is not a number fails the module."""
    out = {}
    for name, value in (module.params['free_space'] or {}).items():
        if value is None or value == '':
            out[name] = None
            continue
        try:
            out[name] = int(value)
        except (TypeError, ValueError):
            module.fail('free_space: the value for %s must be a number of bytes, got %r.' % (name, value))
        if out[name] < 0:
            module.fail('free_space: the value for %s must be >= 0, got %s.' % (name, value))
    return out


def run(module):
    p = module.params
    module.require_non_negative('compact_keep_revisions', 'max_raft_lag', 'space_reserve_bytes')
    module.require_positive('wait_timeout')
    free_space = free_space_map(module)
    module.result.update(members=[], order=[], compaction=None, leader_moves=[])
    run_defrag(module.client, rule=dict((k, p[v]) for k, v in RULE_OPTIONS.items()), force=p['force'],
               compact_keep_revisions=p['compact_keep_revisions'], wait_timeout=p['wait_timeout'],
               max_raft_lag=p['max_raft_lag'], move_leader=p['move_leader'], only=p['members'],
               free_space=free_space, reserve_bytes=p['space_reserve_bytes'], check_mode=module.check_mode,
               result=module.result)


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == '__main__':
    main()
