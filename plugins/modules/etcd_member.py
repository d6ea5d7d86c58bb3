#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_member
short_description: Add, promote and remove etcd cluster members safely
version_added: 0.1.0
description:
  - Manages the membership of an etcd v3 cluster. A member is identified by its O(name) and its O(peer_urls) together,
    never by a text search, so the wrong member cannot be picked. A name and peer URLs that point at different
    members (or only partly match a member) are an error, and nothing is changed.
  - Adding a member that exists (or was added and not started yet) changes nothing. The result holds the
    C(initial_cluster) string to start the new member with C(--initial-cluster-state existing).
  - Removing a voting member is refused when the remaining voting members would not have a healthy quorum, or when
    the cluster has no healthy quorum now, unless O(force=true).
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
  - etcdkit.etcd.attributes
  - etcdkit.etcd.attributes.action_group
options:
  name:
    description:
      - Member name (C(--name) of the etcd process). Required with O(state=present).
      - With O(state=absent) at least one of O(name) and O(peer_urls) is needed; given together they must point at
        the same member.
      - A member that was added but never started has no name in etcd yet. Removing by O(name) alone while such
        a member exists fails and names the unstarted members (it may be the one meant); give O(peer_urls).
    type: str
  peer_urls:
    description:
      - Peer URLs of the member (C(--initial-advertise-peer-urls)). Required with O(state=present).
    type: list
    elements: str
  state:
    description:
      - V(present) adds the member if it is not there; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  learner:
    description:
      - Add a new member as a non-voting learner (recommended; promote it once it has caught up). Has no effect on
        a member that exists; a voting member is never turned into a learner.
    type: bool
    default: false
  promote:
    description:
      - Promote the member to a voting member if it is a learner. The learner must be running and caught up with
        the leader; the module retries until O(wait_timeout).
      - The request is sent to the leader (one of O(endpoints), or the leader's advertised client URL), because
        only the leader knows whether the learner is in sync, and etcd 3.5 loses the credentials when a follower
        forwards a promotion to the leader with authentication enabled (etcd-io/etcd#14070).
      - When the learner cannot be promoted in time, the failure holds C(learner) (whether it started, its raft
        index and applied index, the leader and its raft index) and C(error) (etcd's last answer).
      - A learner that is added by the same task is not promoted (it has to be started first); run the task again
        with O(promote=true) after starting it.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for a learner to catch up before promoting it.
      - Also how long an addition or removal is retried while etcd refuses it as C(unhealthy cluster) (its strict
        reconfiguration check wants all members connected for 5 seconds, e.g. right after a member restarted).
    type: float
    default: 120
  force:
    description:
      - Remove the member even when that breaks (or the cluster already lacks) a healthy quorum.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reports the operation that would be done (add, promote, remove) without changing the membership.
  diff_mode:
    support: full
    details: Shows the member before and after.
notes:
  - Membership changes need the C(root) role when authentication is enabled.
'''

EXAMPLES = r'''
- name: Add etcd4 as a learner
  etcdkit.etcd.etcd_member:
    endpoints: https://10.0.0.11:2379
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/gateway.crt
    client_key: /etc/etcd/pki/gateway.key
    user: root
    password: "{{ etcd_root_password }}"
    name: etcd4
    peer_urls: [https://10.0.0.14:2380]
    learner: true
  register: added

- name: Start etcd4 with --initial-cluster "{{ added.initial_cluster }}" --initial-cluster-state existing
  ansible.builtin.debug:
    msg: "{{ added.initial_cluster }}"

- name: Promote etcd4 once it has caught up
  etcdkit.etcd.etcd_member:
    name: etcd4
    peer_urls: [https://10.0.0.14:2380]
    promote: true
    wait_timeout: 300

- name: Remove etcd1 (refused if that would break quorum)
  etcdkit.etcd.etcd_member:
    name: etcd1
    peer_urls: [https://10.0.0.11:2380]
    state: absent
'''

RETURN = r'''
operation:
  description: What was (in check mode - would be) done.
  returned: success
  type: str
  choices: [none, added, promoted, removed]
  sample: added
member:
  description: The member after the task; null when it does not exist. In check mode an added member has id null.
  returned: success
  type: dict
  contains:
    id:
      description: Member id (hex).
      type: str
      sample: "8e9e05c52164694d"
    name:
      description: Member name; empty until a newly added member has started.
      type: str
      sample: etcd4
    peer_urls:
      description: Peer URLs.
      type: list
      elements: str
      sample: ["https://10.0.0.14:2380"]
    client_urls:
      description: Client URLs (empty until the member has started).
      type: list
      elements: str
      sample: []
    is_learner:
      description: Whether the member is a learner.
      type: bool
      sample: true
  sample: {"id": "8e9e05c52164694d", "name": "", "peer_urls": ["https://10.0.0.14:2380"], "client_urls": [],
           "is_learner": true}
members:
  description: All members after the task (same fields as RV(member)).
  returned: success
  type: list
  elements: dict
  sample: []
initial_cluster:
  description: C(--initial-cluster) value for starting the member (all members, this one under O(name)).
  returned: success and O(state=present)
  type: str
  sample: etcd1=https://10.0.0.11:2380,etcd2=https://10.0.0.12:2380,etcd3=https://10.0.0.13:2380,etcd4=https://10.0.0.14:2380
quorum:
  description: Quorum of the voting members before the task (see M(etcdkit.etcd.etcd_info)).
  returned: success
  type: dict
  sample: {"voting": 3, "healthy_voting": 3, "required": 2, "ok": true}
'''

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import cluster_view, match_member, public_member
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import DEFAULT_WAIT_TIMEOUT, EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils._membership import (
    add_learner,
    describe,
    initial_cluster,
    promote_learner,
    remove_member,
    unresolved_absent,
)

ARGUMENT_SPEC = dict(
    name=dict(type='str'),
    peer_urls=dict(type='list', elements='str'),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    learner=dict(type='bool', default=False),
    promote=dict(type='bool', default=False),
    wait_timeout=dict(type='float', default=DEFAULT_WAIT_TIMEOUT),
    force=dict(type='bool', default=False),
)


def check_params(module):
    p = module.params
    if p['peer_urls'] is not None:
        bad = [u for u in p['peer_urls'] if not (u.startswith('http://') or u.startswith('https://'))
               or len(u.split('://', 1)[1].strip('/')) == 0]
        if bad or not p['peer_urls']:
            module.fail('peer_urls must be a non-empty list of URLs like https://10.0.0.14:2380; got %s.'
                        % (bad or p['peer_urls']))
    if p['name'] is not None and not p['name'].strip():
        module.fail('name must not be empty.')
    module.require_non_negative('wait_timeout')


def present(module, client, members, member):
    p = module.params
    if member is None:
        res = add_learner(client, p['name'], p['peer_urls'], learner=p['learner'], wait_timeout=p['wait_timeout'],
                          check_mode=module.check_mode, members=members)
        module.result.update(changed=True, operation='added', initial_cluster=res['initial_cluster'])
        if p['promote'] and p['learner']:
            module.warn('the learner was just added and is not promoted: start it, then run again with promote=true')
        return res['member'], res['members']
    if member['is_learner'] and p['promote']:
        if module.check_mode:
            member = dict(member, is_learner=False)
            members = [member if m['id'] == member['id'] else m for m in members]
        else:
            dummy, members = promote_learner(client, member['id'], p['wait_timeout'])
            member = [m for m in members if m['id'] == member['id']][0]
        module.result.update(changed=True, operation='promoted')
    elif not member['is_learner'] and p['learner'] and not p['promote']:
        module.warn('member %s is a voting member; learner=true only applies when adding' % describe(member))
    elif member['is_learner'] and not p['promote'] and not p['learner']:
        module.warn('member %s is a learner; set promote=true to make it a voting member' % describe(member))
    module.result['initial_cluster'] = initial_cluster(members, p['name'], p['peer_urls'], member['id'])
    return member, members


def run(module):
    p = module.params
    check_params(module)
    client = module.client
    view = cluster_view(client)
    members = view['members']
    member, conflict = match_member(members, p['name'], p['peer_urls'])
    if conflict:
        module.fail('Cannot tell which member is meant: %s.' % conflict, members=[public_member(m) for m in members])
    if p['state'] == 'absent' and member is None:
        problem = unresolved_absent(members, p['name'], p['peer_urls'])
        if problem:
            module.fail(problem, members=[public_member(m) for m in members])
    module.result.update(operation='none', quorum=view['quorum'])
    before = public_member(member) if member else None
    if p['state'] == 'present':
        member, members = present(module, client, members, member)
    elif member is not None:
        res = remove_member(client, member['id'], force=p['force'], wait_timeout=p['wait_timeout'],
                            check_mode=module.check_mode, view=view)
        if res['warning']:
            module.warn(res['warning'])
        module.result.update(changed=True, operation='removed')
        member, members = None, res['members']
    after = public_member(member) if member else None
    module.result.update(member=after, members=[public_member(m) for m in members])
    if module._diff:
        module.result['diff'] = dict(before=before or {}, after=after or {})


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                       required_if=[('state', 'present', ('name', 'peer_urls'))],
                       required_one_of=[('name', 'peer_urls')])


if __name__ == '__main__':
    main()
