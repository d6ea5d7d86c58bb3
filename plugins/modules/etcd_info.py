#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_info
short_description: Report etcd cluster members, per-endpoint health and status, alarms and quorum
version_added: 0.1.0
description:
  - Reads the member list, the status and health of every endpoint, the active alarms and the leader of an etcd
    v3 cluster through its JSON gateway, and computes whether the voting members have a healthy quorum.
  - Read-only. With O(fail_on_unhealthy=true) the module is a gate that fails with the precise reasons when the
    cluster is not fully healthy.
  - Needs only the Python standard library on the target.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
options:
  fail_on_unhealthy:
    description:
      - Fail when any member is unhealthy or unreachable, when the members disagree on the leader or there is none,
        when an alarm is active or when the voting members have no healthy quorum. The failure result still holds
        all the information.
    type: bool
    default: false
  probe_members:
    description:
      - Also ask the client URLs of members that are not reached through O(endpoints), so that every member's
        health is known (like C(etcdctl endpoint health --cluster)).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
  diff_mode:
    support: none
    description: Not supported (nothing is changed).
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
    - Empty when no member could list them (then C(problems) says why); etcd 3.5.28 and newer with auth on
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
problems:
  description: Every reason the cluster is not fully healthy; empty when it is.
  returned: success
  type: list
  elements: str
  sample: ["member 8e9e05c52164694d (etcd3) is unhealthy: Cannot connect to etcd endpoint https://10.0.0.13:2379"]
'''

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdError, format_id
from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import (
    cluster_view,
    public_endpoint,
    public_member,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule


def gather(client, probe_members):
    view = cluster_view(client, probe_members=probe_members, tolerate_no_listing=True)
    problems = []
    if view['member_list_error']:
        problems.append('the members could not be listed: %s' % view['member_list_error'])
    alarms = []
    try:
        alarms = client.alarm_list()
    except EtcdError as err:
        problems.append('alarms could not be read: %s' % err.message)
    members = [public_member(m, view['health']) for m in view['members']]
    for m in view['members']:
        if view['health'].get(m['id']):
            continue
        probe = view['status'].get(m['id'])
        if probe is not None:
            why = probe.get('error') or 'unhealthy'
        elif not m.get('name'):
            why = 'added but not started yet'
        else:
            tried = [p for p in view['endpoints'] if p['endpoint'] in
                     [u.rstrip('/') for u in m.get('client_urls') or []]]
            why = '; '.join(p['error'] for p in tried if p.get('error')) or 'no endpoint of this member answered'
        problems.append('member %s (%s) is unhealthy: %s' % (format_id(m['id']), m.get('name') or 'unstarted', why))
    member_ids = set(m['id'] for m in view['members'])
    for p in view['endpoints']:
        if p.get('member_id') is None and p.get('error'):
            if not any(p['endpoint'] in (m.get('client_urls') or []) for m in view['members']):
                problems.append('endpoint %s: %s' % (p['endpoint'], p['error']))
        elif view['member_list_error']:
            continue  # without a member list there is nothing to compare an answering endpoint with
        elif p.get('member_id') and p['member_id'] not in member_ids:
            problems.append('endpoint %s belongs to member %s which is not in the member list (cluster %s)'
                            % (p['endpoint'], format_id(p['member_id']), format_id(p.get('cluster_id'))))
        elif p.get('cluster_id') and p['cluster_id'] != view['cluster_id']:
            problems.append('endpoint %s is in cluster %s, not %s' % (p['endpoint'], format_id(p['cluster_id']),
                                                                      format_id(view['cluster_id'])))
    if not view['leader_id']:
        problems.append('no member knows a leader')
    elif len(view['leaders']) > 1:
        problems.append('members disagree on the leader: %s' % ', '.join(format_id(x) for x in view['leaders']))
    for a in alarms:
        problems.append('alarm %s is active on member %s' % (a['alarm'], format_id(a['member_id'])))
    q = view['quorum']
    if not q['ok'] and view['member_list_error']:
        problems.append('no healthy quorum: no member answered the member list')
    elif not q['ok']:
        problems.append('no healthy quorum: %d of %d voting members healthy, %d needed'
                        % (q['healthy_voting'], q['voting'], q['required']))
    return dict(
        cluster_id=format_id(view['cluster_id']),
        leader_id=format_id(view['leader_id']) if view['leader_id'] else None,
        members=members,
        endpoints=[public_endpoint(p) for p in view['endpoints']],
        alarms=[dict(member_id=format_id(a['member_id']), alarm=a['alarm']) for a in alarms],
        quorum=q,
        problems=problems,
    )


def main():
    module = EtcdModule(
        argument_spec=dict(
            fail_on_unhealthy=dict(type='bool', default=False),
            probe_members=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    client = module.client
    result = module.run(lambda: gather(client, module.params['probe_members']))
    result['changed'] = False
    if module.params['fail_on_unhealthy'] and result['problems']:
        module.fail_json(msg='etcd cluster is not healthy: %s' % '; '.join(result['problems']), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
