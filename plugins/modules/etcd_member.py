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
options:
  name:
    description:
      - Member name (C(--name) of the etcd process). Required with O(state=present).
      - With O(state=absent) at least one of O(name) and O(peer_urls) is needed; given together they must point at
        the same member.
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
    type: int
    default: 120
  force:
    description:
      - Remove the member even when that breaks (or the cluster already lacks) a healthy quorum.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports the operation that would be done (add, promote, remove) without changing the membership.
  diff_mode:
    support: full
    description: Shows the member before and after.
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

import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdError, format_id, normalize_endpoint
from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import (
    cluster_view,
    match_member,
    public_member,
    removal_check,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule


def _describe(member):
    return '%s (%s)' % (format_id(member['id']), member.get('name') or 'unstarted')


def _initial_cluster(members, name, peer_urls, member_id):
    parts = []
    for m in members:
        if member_id is not None and m['id'] == member_id:
            continue
        for url in m['peer_urls']:
            parts.append('%s=%s' % (m.get('name') or '', url))
    for url in peer_urls:
        parts.append('%s=%s' % (name, url))
    return ','.join(parts)


def _find_leader(client, members):
    """Return ``(endpoint, status)`` of the leader, asked at a configured endpoint or at the leader's advertised
    client URLs; ``(None, None)`` when no reachable member is the leader (a follower's status names the leader id
    in ``leader_id`` of the second value then, if one answered)."""
    known = None
    for ep in client.endpoints:
        try:
            st = client.status(ep)
        except EtcdError:
            continue
        if st['is_leader']:
            return ep, st
        known = known or (st if st['leader_id'] else None)
    if known:
        for m in members:
            if m['id'] != known['leader_id']:
                continue
            for url in m.get('client_urls') or []:
                if normalize_endpoint(url) in client.endpoints:
                    continue
                try:
                    st = client.status(url)
                except EtcdError:
                    continue
                if st['is_leader']:
                    return normalize_endpoint(url), st
    return None, known


def _learner_state(client, member, leader):
    """What the operator needs to know about a learner that could not be promoted (dict + sentence)."""
    state = dict(id=format_id(member['id']), name=member.get('name') or '', started=bool(member.get('name')),
                 client_urls=list(member.get('client_urls') or []), raft_index=None, raft_applied_index=None,
                 status_error=None, leader_id=None, leader_endpoint=None, leader_raft_index=None)
    if leader and leader.get('is_leader'):
        state.update(leader_id=format_id(leader['member_id']), leader_endpoint=leader['endpoint'],
                     leader_raft_index=leader['raft_index'])
    if not state['started']:
        return state, ('it has not started yet (no name in the member list: it never connected to the cluster; '
                       'start it with --initial-cluster-state existing and the initial_cluster of the add)')
    errors = []
    for url in state['client_urls']:
        try:
            st = client.status(url)
        except EtcdError as err:
            errors.append(err.message)
            continue
        state.update(raft_index=st['raft_index'], raft_applied_index=st['raft_applied_index'])
        text = 'it is running (%s): raft index %d, applied %d' % (url, st['raft_index'], st['raft_applied_index'])
        if state['leader_raft_index'] is not None:
            text += ", the leader's raft index is %d" % state['leader_raft_index']
        return state, text
    state['status_error'] = '; '.join(errors) or 'it advertises no client URL'
    return state, ('it has started (it is named %s) but its status cannot be read from here: %s'
                   % (state['name'], state['status_error']))


def _reconfigure(module, func):
    """Run a membership change, retrying until wait_timeout while etcd refuses it with "unhealthy cluster": its
    strict reconfiguration check wants every member connected for 5 s, so the refusal is transient right after
    a member (re)started, and certainly nothing was changed."""
    deadline = time.time() + module.params['wait_timeout']
    while True:
        try:
            return func()
        except EtcdError as err:
            if err.kind != 'unavailable' or 'unhealthy cluster' not in (err.server_message or '') \
                    or time.time() >= deadline:
                raise
        time.sleep(min(0.5, max(0.0, deadline - time.time())))


# etcd's answers while a learner may still become promotable (not in sync yet, leader change, overload)
_PROMOTE_RETRY_KINDS = ('precondition', 'unavailable', 'timeout', 'no_leader', 'unreachable', 'all_failed')


def _promote(module, client, member):
    """Promote the learner, sending the request to the leader; retry until wait_timeout."""
    wait = module.params['wait_timeout']
    deadline = time.time() + wait
    last = last_endpoint = leader = None
    attempts = 0
    members = [member]
    while True:
        members = client.member_list()['members'] or members
        current = [m for m in members if m['id'] == member['id']]
        if not current:
            module.fail_json(msg='Learner %s was removed from the cluster while waiting to promote it.'
                                 % _describe(member), changed=False)
        member = current[0]
        if not member['is_learner']:
            # promoted meanwhile (e.g. an earlier attempt whose answer timed out)
            return members
        endpoint, leader = _find_leader(client, members)
        attempts += 1
        try:
            return client.member_promote(member['id'], endpoint=endpoint)
        except EtcdError as err:
            to_follower = endpoint is None and 'user name is empty' in (err.server_message or '')
            if err.kind not in _PROMOTE_RETRY_KINDS and not to_follower:
                raise
            last, last_endpoint = err, endpoint
        if time.time() >= deadline:
            break
        time.sleep(min(1.0, max(0.0, deadline - time.time())))

    state, text = _learner_state(client, member, leader)
    if last_endpoint:
        where = 'the leader %s' % last_endpoint
        hint = ('Make sure the member is running with --initial-cluster-state existing and has caught up with the '
                'leader, or raise wait_timeout.')
    else:
        where = 'the configured endpoints (no reachable member was the leader)'
        hint = ('etcd 3.5 forwards a promotion sent to a follower to the leader without the credentials, which '
                'fails when authentication is enabled (etcd-io/etcd#14070): include the leader\'s client URL in '
                'endpoints. Also make sure the member is running with --initial-cluster-state existing and has '
                'caught up with the leader, or raise wait_timeout.')
    module.fail_json(
        msg='Learner %s could not be promoted within wait_timeout=%ss (%d attempts): etcd answered "%s" from %s; '
            '%s. %s' % (_describe(member), wait, attempts, last.server_message or last.message, where, text, hint),
        changed=False, learner=state, error=last.to_dict())


def run(module):
    p = module.params
    client = module.client
    view = cluster_view(client)
    members = view['members']
    healthy = set(k for k, v in view['health'].items() if v)
    member, conflict = match_member(members, p['name'], p['peer_urls'])
    if conflict:
        module.fail_json(msg='Cannot tell which member is meant: %s.' % conflict, changed=False,
                         members=[public_member(m) for m in members])
    result = dict(changed=False, operation='none', quorum=view['quorum'])
    before = public_member(member) if member else None
    warnings = []

    if p['state'] == 'present':
        if member is None:
            result.update(changed=True, operation='added')
            if module.check_mode:
                new = dict(id=None, name='', peer_urls=list(p['peer_urls']), client_urls=[],
                           is_learner=p['learner'])
                result['member'] = new
                result['members'] = [public_member(m) for m in members] + [new]
                new_id = None
            else:
                added = _reconfigure(module, lambda: client.member_add(p['peer_urls'], is_learner=p['learner']))
                member = added['member']
                members = added['members'] or client.member_list()['members']
                new_id = member['id']
            if p['promote'] and p['learner']:
                warnings.append('the learner was just added and is not promoted: start it, then run again with '
                                'promote=true')
            result['initial_cluster'] = _initial_cluster(members, p['name'], p['peer_urls'], new_id)
        else:
            if member['is_learner'] and p['promote']:
                result.update(changed=True, operation='promoted')
                if module.check_mode:
                    member = dict(member, is_learner=False)
                    members = [member if m['id'] == member['id'] else m for m in members]
                else:
                    members = _promote(module, client, member) or client.member_list()['members']
                    member = [m for m in members if m['id'] == member['id']][0]
            elif not member['is_learner'] and p['learner'] and not p['promote']:
                warnings.append('member %s is a voting member; learner=true only applies when adding'
                                % _describe(member))
            elif member['is_learner'] and not p['promote'] and not p['learner']:
                warnings.append('member %s is a learner; set promote=true to make it a voting member'
                                % _describe(member))
            result['initial_cluster'] = _initial_cluster(members, p['name'], p['peer_urls'], member['id'])
    else:
        if member is not None:
            reason = removal_check(members, healthy, member['id'])
            if reason and not p['force']:
                module.fail_json(msg='Refusing to remove member %s: %s. Bring the unhealthy members back first, or '
                                     'set force=true if you accept losing quorum.' % (_describe(member), reason),
                                 changed=False, quorum=view['quorum'],
                                 members=[public_member(m, view['health']) for m in members])
            if reason:
                warnings.append('removing member %s although %s (force=true)' % (_describe(member), reason))
            result.update(changed=True, operation='removed')
            if module.check_mode:
                members = [m for m in members if m['id'] != member['id']]
            else:
                members = (_reconfigure(module, lambda: client.member_remove(member['id']))
                           or client.member_list()['members'])
            member = None

    for w in warnings:
        module.warn(w)
    if 'member' not in result:
        result['member'] = public_member(member) if member else None
    if 'members' not in result:
        result['members'] = [public_member(m) for m in members]
    if module._diff:
        result['diff'] = dict(before=before or {}, after=result['member'] or {})
    return result


def main():
    module = EtcdModule(
        argument_spec=dict(
            name=dict(type='str'),
            peer_urls=dict(type='list', elements='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            learner=dict(type='bool', default=False),
            promote=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=120),
            force=dict(type='bool', default=False),
        ),
        required_if=[('state', 'present', ('name', 'peer_urls'))],
        required_one_of=[('name', 'peer_urls')],
        supports_check_mode=True,
    )
    p = module.params
    if p['peer_urls'] is not None:
        bad = [u for u in p['peer_urls'] if not (u.startswith('http://') or u.startswith('https://'))
               or len(u.split('://', 1)[1].strip('/')) == 0]
        if bad or not p['peer_urls']:
            module.fail_json(msg='peer_urls must be a non-empty list of URLs like https://10.0.0.14:2380; got %s.'
                             % (bad or p['peer_urls']))
    if p['name'] is not None and not p['name'].strip():
        module.fail_json(msg='name must not be empty.')
    if p['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must be 0 or more seconds.')
    try:
        result = run(module)
    except EtcdError as err:
        module.fail_etcd(err)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
