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
    db_size / quota_bytes >= quota_usage_ratio)); a threshold of V(0) disables its clause.
  - Needs only the Python standard library on the target.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
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
      - Defragment when the database size is at least this share of O(quota_bytes). V(0) disables this clause.
    type: float
    default: 0.8
  quota_bytes:
    description:
      - The backend quota of the members (C(--quota-backend-bytes)); V(0) means etcd's default of 2 GiB.
    type: int
    default: 0
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
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
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
    quota_bytes: 8589934592
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

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdError, format_id
from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import cluster_view
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag_rules import (
    normalize_rule,
    order_members,
    plan as plan_defrag,
)

RULE_OPTIONS = ('min_free_bytes', 'free_bytes_trigger', 'min_free_ratio', 'quota_usage_ratio', 'quota_bytes')


def _alarm_only(probe):
    """True when the only thing wrong with a member is an active NOSPACE alarm."""
    texts = [probe.get('error') or ''] + list(probe.get('errors') or [])
    texts = [t for t in texts if t]
    return bool(texts) and bool(probe.get('leader_id')) and all('NOSPACE' in t.upper() for t in texts)


def gate_problems(view):
    """Reasons the health gate is closed (empty list when it is open)."""
    problems = []
    for member in view['members']:
        label = member.get('name') or format_id(member['id'])
        probe = view['status'].get(member['id'])
        if probe is None:
            problems.append('%s: not reachable through the endpoints or its client URLs' % label)
        elif not probe.get('healthy') and not _alarm_only(probe):
            problems.append('%s: %s' % (label, probe.get('error') or 'unhealthy'))
    if not view['quorum']['ok']:
        problems.append('no healthy quorum (%(healthy_voting)d of %(voting)d voting members healthy, '
                        '%(required)d required)' % view['quorum'])
    if len(view.get('leaders') or []) > 1:
        problems.append('members disagree on the leader (%s)' % ', '.join(format_id(x) for x in view['leaders']))
    elif not view.get('leader_id'):
        problems.append('no leader')
    return problems


def wait_gate(client, deadline):
    """Return a cluster view once the gate is open; None and the problems when the deadline passes."""
    while True:
        try:
            view = cluster_view(client, probe_members=True)
            problems = gate_problems(view)
        except EtcdError as err:
            if err.kind in ('auth', 'permission', 'config'):
                raise
            view, problems = None, [err.message]
        if not problems:
            return view, []
        if time.time() >= deadline:
            return None, problems
        time.sleep(1)


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


def compact(module, client, view, keep):
    """Compact to (revision - keep); return the compaction result dict."""
    revision = max([p.get('revision') or 0 for p in view['status'].values()] or [0])
    target = revision - keep
    info = dict(revision=revision, target=target, compacted=False)
    if target < 1:
        info['reason'] = 'fewer than %d revisions' % keep
        return info
    try:
        if not module.check_mode:
            client.compact(target, physical=True)
        elif target > 1:
            # a read at target-1 fails when the history is already compacted up to target or beyond
            client.range('\0', revision=target - 1, count_only=True)
    except EtcdError as err:
        if 'compacted' in (err.server_message or err.message).lower():
            info['reason'] = 'already compacted'
            return info
        raise
    info['compacted'] = True
    return info


def settle(client, view, deadline):
    """After a compaction: every member compacts in the background and its in-use size drops in steps; wait until
    the sizes of all members are the same on two polls one second apart (or the deadline passes)."""
    endpoints = [p['endpoint'] for p in view['status'].values() if p.get('endpoint')]

    def sizes():
        out = []
        for endpoint in endpoints:
            try:
                st = client.status(endpoint)
                out.append((st['db_size'], st['db_size_in_use']))
            except EtcdError:
                out.append(None)
        return out

    last = sizes()
    while time.time() < deadline:
        time.sleep(1)
        cur = sizes()
        if cur == last:
            return
        last = cur


def wait_caught_up(client, entry, deadline, max_lag):
    """Wait until the member is healthy (or only has a NOSPACE alarm) and close to the leader. Returns
    (probe, problem)."""
    problem = None
    while True:
        probe = client.probe(entry['endpoint'])
        problem = None
        if not probe.get('healthy') and not _alarm_only(probe):
            problem = probe.get('error') or 'unhealthy'
        elif probe.get('is_leader') or entry['role'] == 'learner':
            pass
        else:
            leader = None
            try:
                view = cluster_view(client, probe_members=True)
                leader = view['status'].get(view.get('leader_id'))
            except EtcdError as err:
                problem = err.message
            if leader is not None and leader.get('raft_index') is not None:
                lag = leader['raft_index'] - (probe.get('raft_applied_index') or 0)
                if lag > max_lag:
                    problem = 'applied index %s is %d behind the leader' % (probe.get('raft_applied_index'), lag)
            elif problem is None:
                problem = 'leader not reachable'
        if problem is None or time.time() >= deadline:
            return probe, problem
        time.sleep(0.5)


def run(module):
    p = module.params
    rule = dict((k, p[k]) for k in RULE_OPTIONS)
    try:
        rule = normalize_rule(rule)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for key in ('compact_keep_revisions', 'max_raft_lag'):
        if p[key] is not None and p[key] < 0:
            module.fail_json(msg='%s must be >= 0, got %d.' % (key, p[key]))
    if p['wait_timeout'] <= 0:
        module.fail_json(msg='wait_timeout must be a positive number of seconds, got %s.' % p['wait_timeout'])

    client = module.client
    result = dict(changed=False, members=[], order=[], compaction=None)
    view, problems = wait_gate(client, time.time() + p['wait_timeout'])
    if view is None:
        module.fail_json(msg='Health gate closed, nothing was done: %s' % '; '.join(problems), **result)

    if p['compact_keep_revisions'] is not None:
        try:
            result['compaction'] = compact(module, client, view, p['compact_keep_revisions'])
        except EtcdError as err:
            module.fail_json(msg='Compaction failed: %s' % err.message, error=err.to_dict(), **result)
        if result['compaction']['compacted']:
            result['changed'] = True
            if not module.check_mode:
                settle(client, view, time.time() + p['wait_timeout'])
                view, problems = wait_gate(client, time.time() + p['wait_timeout'])
                if view is None:
                    module.fail_json(msg='Health gate closed after the compaction: %s' % '; '.join(problems),
                                     **result)

    entries = member_entries(view)
    try:
        planned = plan_defrag(entries, rule, force=p['force'])
    except ValueError as exc:
        module.fail_json(msg=str(exc), **result)
    by_id = dict((e['member_id'], e) for e in entries)
    members = []
    for item in planned:
        entry = by_id[item['member_id']]
        members.append(dict(
            name=item['name'], member_id=item['member_id'], endpoint=entry['endpoint'], role=item['role'],
            defrag=item['defrag'], defragmented=False, reasons=item['reasons'],
            before=dict(db_size=item['db_size'], db_size_in_use=item['db_size_in_use']), after=None,
            seconds=None,
        ))
    result['members'] = members
    todo = [m for m in members if m['defrag']]
    if module.check_mode:
        result['order'] = [m['name'] for m in todo]
        result['changed'] = result['changed'] or bool(todo)
        module.exit_json(**result)

    done = set()
    while len(done) < len(todo):
        remaining = [m for m in todo if m['member_id'] not in done]
        if done:
            view, problems = wait_gate(client, time.time() + p['wait_timeout'])
            if view is None:
                module.fail_json(msg='Health gate closed after defragmenting %s; not touching %s: %s'
                                 % (', '.join(result['order']), ', '.join(m['name'] for m in remaining),
                                    '; '.join(problems)), **result)
            # roles may have changed (leader election): re-order the remaining members
            current = dict((e['member_id'], e) for e in member_entries(view))
            for m in remaining:
                cur = current.get(m['member_id'])
                if cur is not None:
                    m['role'] = 'learner' if cur['is_learner'] else ('leader' if cur['is_leader'] else 'follower')
                    m['endpoint'] = cur['endpoint'] or m['endpoint']
        nxt = order_members([dict(name=m['name'], member_id=m['member_id'], is_leader=m['role'] == 'leader',
                                  is_learner=m['role'] == 'learner') for m in remaining])[0]
        member = [m for m in remaining if m['member_id'] == nxt['member_id']][0]
        started = time.time()
        try:
            status = client.status(member['endpoint'])
            member['before'] = dict(db_size=status['db_size'], db_size_in_use=status['db_size_in_use'])
            client.defragment(member['endpoint'])
        except EtcdError as err:
            module.fail_json(msg='Defragmentation of %s (%s) failed: %s; the remaining members were not touched.'
                             % (member['name'], member['endpoint'], err.message), error=err.to_dict(), **result)
        member['defragmented'] = True
        result['changed'] = True
        result['order'].append(member['name'])
        done.add(member['member_id'])
        probe, problem = wait_caught_up(client, member, time.time() + p['wait_timeout'], p['max_raft_lag'])
        member['seconds'] = round(time.time() - started, 3)
        member['after'] = dict(db_size=probe.get('db_size'), db_size_in_use=probe.get('db_size_in_use'))
        if problem:
            left = [m['name'] for m in todo if m['member_id'] not in done]
            module.fail_json(msg='%s did not become healthy and caught up within %ss after its defragmentation (%s)%s'
                             % (member['name'], p['wait_timeout'], problem,
                                '; not touching %s' % ', '.join(left) if left else ''), **result)
    module.exit_json(**result)


def main():
    module = EtcdModule(
        argument_spec=dict(
            force=dict(type='bool', default=False),
            min_free_bytes=dict(type='int', default=8 * 1024 * 1024),
            free_bytes_trigger=dict(type='int', default=100 * 1024 * 1024),
            min_free_ratio=dict(type='float', default=0.5),
            quota_usage_ratio=dict(type='float', default=0.8),
            quota_bytes=dict(type='int', default=0),
            compact_keep_revisions=dict(type='int'),
            wait_timeout=dict(type='float', default=120),
            max_raft_lag=dict(type='int', default=100),
        ),
        supports_check_mode=True,
    )
    module.run(lambda: run(module))


if __name__ == '__main__':
    main()
