#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_info
short_description: Report etcd cluster members, per-endpoint health and status, alarms and quorum; the health gate
version_added: 0.1.0
description:
  - Reads the member list, the status and health of every endpoint, the active alarms and the leader of an etcd
    v3 cluster through its JSON gateway, and computes whether the voting members have a healthy quorum.
  - Read-only. With O(fail_on_unhealthy=true) the module is the health gate of the collection's roles - it fails
    with the precise reasons (RV(problems)) when the cluster is not fully healthy, optionally after waiting up to
    O(wait_timeout) for it to become healthy.
  - Needs only the Python standard library on the target.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
  - etcdkit.etcd.attributes
  - etcdkit.etcd.attributes.action_group
options:
  fail_on_unhealthy:
    description:
      - Fail unless the cluster is fully healthy - every member reachable and healthy (a member that was added and
        has not started counts as unhealthy), exactly one leader that all members agree on, a healthy quorum of
        the voting members, no active alarm, every endpoint in this cluster, and the applied raft indexes of the
        members at most O(max_raft_index_spread) apart. The failure result still holds all the information.
    type: bool
    default: false
  wait_timeout:
    description:
      - With O(fail_on_unhealthy=true), seconds to keep looking (about once a second) until the cluster is healthy
        before failing. V(0) looks once.
      - Useful right after a member restarted or joined, while it catches up.
    type: float
    default: 0
  max_raft_index_spread:
    description:
      - Largest allowed difference between the applied raft indexes of the members (a member this far behind has
        not caught up). Part of the health gate of O(fail_on_unhealthy).
    type: int
    default: 1000
  probe_members:
    description:
      - Also ask the client URLs of members that are not reached through O(endpoints), so that every member's
        health is known (like C(etcdctl endpoint health --cluster)).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The module never changes anything.
  diff_mode:
    support: none
notes:
  - Member and cluster ids are returned as 16-digit hexadecimal strings, as C(etcdctl) prints them.
'''

EXAMPLES = r'''
- name: Gate - stop the play unless the cluster is fully healthy
  etcdkit.etcd.etcd_info:
    endpoints:
      - https://10.0.0.11:2379
      - https://10.0.0.12:2379
      - https://10.0.0.13:2379
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/client.crt
    client_key: /etc/etcd/pki/client.key
    user: root
    password: "{{ etcd_root_password }}"
    fail_on_unhealthy: true

- name: Gate after a restart - wait up to 2 minutes for every member to be healthy and caught up
  etcdkit.etcd.etcd_info:
    endpoints: https://10.0.0.11:2379
    ca_cert: /etc/etcd/pki/ca.crt
    fail_on_unhealthy: true
    wait_timeout: 120
    max_raft_index_spread: 100

- name: Connection options once for all etcd modules
  module_defaults:
    group/etcdkit.etcd.etcd:
      endpoints: "{{ groups['etcd'] | map('extract', hostvars, 'ansible_host') | map('regex_replace', '^(.*)$', 'https://\\1:2379') }}"
      ca_cert: /etc/etcd/pki/ca.crt
  block:
    - name: Read the cluster state
      etcdkit.etcd.etcd_info:
      register: etcd

    - name: Show the leader
      ansible.builtin.debug:
        msg: "leader {{ etcd.leader_id }}, quorum ok: {{ etcd.quorum.ok }}"
'''

RETURN = r'''
cluster_id:
  description: Cluster id (hex); null when no member could list the members.
  returned: success
  type: str
  sample: "cdf818194e3a8c32"
leader_id:
  description: Id (hex) of the leader most members agree on; null when no member knows a leader.
  returned: success
  type: str
  sample: "8e9e05c52164694d"
members:
  description:
    - Members of the cluster.
    - Empty when no member could list them (then RV(problems) says why); etcd 3.5.28 and newer with auth on
      answer no member list without a leader.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Member id (hex).
      type: str
      sample: "8e9e05c52164694d"
    name:
      description: Member name; empty for a member that was added but has not started yet.
      type: str
      sample: etcd1
    peer_urls:
      description: Peer URLs.
      type: list
      elements: str
      sample: ["https://10.0.0.11:2380"]
    client_urls:
      description: Client URLs; empty before the member started.
      type: list
      elements: str
      sample: ["https://10.0.0.11:2379"]
    is_learner:
      description: Whether the member is a non-voting learner.
      type: bool
      sample: false
    healthy:
      description: Whether an endpoint of this member answered healthy.
      type: bool
      sample: true
endpoints:
  description: Status of every endpoint that was asked (configured endpoints first, then other members' client URLs).
  returned: success
  type: list
  elements: dict
  contains:
    endpoint:
      description: Endpoint URL.
      type: str
      sample: https://10.0.0.11:2379
    healthy:
      description: Health check passed, no errors reported and a leader is known.
      type: bool
      sample: true
    version:
      description: etcd server version; null when unreachable.
      type: str
      sample: 3.5.1
    member_id:
      description: Id (hex) of the member behind the endpoint; null when unreachable.
      type: str
      sample: "8e9e05c52164694d"
    is_leader:
      description: Whether this member is the leader.
      type: bool
      sample: true
    is_learner:
      description: Whether this member is a learner.
      type: bool
      sample: false
    db_size:
      description: Physical size of the backend database in bytes.
      type: int
      sample: 20480
    db_size_in_use:
      description: Bytes of the backend database in use (the rest is reclaimable by defragmentation).
      type: int
      sample: 16384
    raft_term:
      description: Raft term.
      type: int
      sample: 2
    raft_index:
      description: Raft index.
      type: int
      sample: 42
    raft_applied_index:
      description: Applied raft index.
      type: int
      sample: 42
    revision:
      description: Current key-value store revision seen by this member.
      type: int
      sample: 17
    errors:
      description: Errors reported by the member, or why it could not be asked.
      type: list
      elements: str
      sample: []
alarms:
  description: Active alarms.
  returned: success
  type: list
  elements: dict
  contains:
    member_id:
      description: Id (hex) of the member that raised the alarm.
      type: str
      sample: "8e9e05c52164694d"
    alarm:
      description: Alarm type.
      type: str
      sample: NOSPACE
quorum:
  description: Quorum of the voting (non-learner) members.
  returned: success
  type: dict
  contains:
    voting:
      description: Number of voting members.
      type: int
      sample: 3
    healthy_voting:
      description: Number of voting members with a healthy endpoint.
      type: int
      sample: 3
    required:
      description: Voting members needed for quorum.
      type: int
      sample: 2
    ok:
      description: Whether O(fail_on_unhealthy) would consider the quorum healthy (healthy_voting >= required).
      type: bool
      sample: true
raft_index_spread:
  description: Largest minus smallest applied raft index over the members that answered.
  returned: success
  type: int
  sample: 0
problems:
  description: Every reason the cluster is not fully healthy (the health gate of O(fail_on_unhealthy)); empty when it is.
  returned: success
  type: list
  elements: str
  sample: ["member 8e9e05c52164694d (etcd3) is unhealthy: Cannot connect to etcd endpoint https://10.0.0.13:2379"]
'''

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import (
    index_spread,
    public_endpoint,
    public_member,
    wait_for_gate,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id

ARGUMENT_SPEC = dict(
    fail_on_unhealthy=dict(type='bool', default=False),
    wait_timeout=dict(type='float', default=0),
    max_raft_index_spread=dict(type='int', default=1000),
    probe_members=dict(type='bool', default=True),
)


def run(module):
    p = module.params
    module.require_non_negative('wait_timeout', 'max_raft_index_spread')
    wait = p['wait_timeout'] if p['fail_on_unhealthy'] else 0
    view, alarms, problems = wait_for_gate(module.client, wait, max_raft_index_spread=p['max_raft_index_spread'],
                                           probe_members=p['probe_members'])
    module.result.update(
        cluster_id=format_id(view['cluster_id']),
        leader_id=format_id(view['leader_id']) if view['leader_id'] else None,
        members=[public_member(m, view['health']) for m in view['members']],
        endpoints=[public_endpoint(x) for x in view['endpoints']],
        alarms=[dict(member_id=format_id(a['member_id']), alarm=a['alarm']) for a in alarms],
        quorum=view['quorum'],
        raft_index_spread=index_spread(list(view['status'].values())),
        problems=problems,
    )
    if p['fail_on_unhealthy'] and problems:
        module.fail('etcd cluster is not healthy%s: %s' % (' after %ss' % wait if wait else '', '; '.join(problems)))


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == '__main__':
    main()
