# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Membership changes (standard library only): add a learner, promote it via the leader, guarded removal, and
"was this member removed?".

Used by the etcd_member module and by the RAM-disk helper's rejoin on the nodes. Every function takes an
``EtcdClient``; waiting uses injectable ``sleep``/``clock`` so the logic is testable.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import (
    FATAL_KINDS,
    cluster_view,
    find_leader,
    match_member,
    removal_check,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import (
    EtcdError,
    KIND_CONFIG,
    KIND_NOT_FOUND,
    KIND_PRECONDITION,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id
from ansible_collections.etcdkit.etcd.plugins.module_utils._verify import confirm

# etcd's answers while a learner may still become promotable (not in sync yet, leader change, overload)
PROMOTE_RETRY_KINDS = ('precondition', 'unavailable', 'timeout', 'no_leader', 'unreachable', 'all_failed')


def describe(member):
    return '%s (%s)' % (format_id(member['id']), member.get('name') or 'unstarted')


def initial_cluster(members, name, peer_urls, member_id=None):
    """``--initial-cluster`` for a member joining as ``name``/``peer_urls``: every other member (``member_id``
    is the joiner's own entry, left out) plus the joiner. An unstarted other member has no name yet; etcd
    accepts an empty name there."""
    parts = []
    for m in members:
        if member_id is not None and m['id'] == member_id:
            continue
        for url in m['peer_urls']:
            parts.append('%s=%s' % (m.get('name') or '', url))
    for url in peer_urls:
        parts.append('%s=%s' % (name, url))
    return ','.join(parts)


def unresolved_absent(members, name, peer_urls=None):
    """Removal by ``name`` alone of a member etcd does not know by that name: when some member was added but
    never started (etcd learns a member's name only when it first connects), it may be the one meant, so "not
    found" would be a guess. Returns the sentence to fail with, or None when the answer is certain."""
    if not name or peer_urls or any(m.get('name') == name for m in members):
        return None
    unstarted = [m for m in members if not m.get('name')]
    if not unstarted:
        return None
    return ('No member is named %r, but %d member(s) were added and never started, so etcd knows no name for '
            'them yet: %s. Give peer_urls (with or without name) to say which member to remove.'
            % (name, len(unstarted), '; '.join('%s with peer URLs %s' % (describe(m), ', '.join(m['peer_urls']))
                                               for m in unstarted)))


def retry_unhealthy(func, wait_timeout, sleep=time.sleep, clock=time.time):
    """Run a membership change, retrying until ``wait_timeout`` while etcd refuses it as "unhealthy cluster":
    its strict reconfiguration check wants every member connected for 5 s, so the refusal is transient right
    after a member (re)started, and certainly nothing was changed."""
    deadline = clock() + wait_timeout
    while True:
        try:
            return func()
        except EtcdError as err:
            if err.kind != 'unavailable' or 'unhealthy cluster' not in (err.server_message or '') \
                    or clock() >= deadline:
                raise
        sleep(min(0.5, max(0.0, deadline - clock())))


def add_learner(client, name, peer_urls, learner=True, wait_timeout=120, check_mode=False, members=None,
                sleep=time.sleep, clock=time.time):
    """Add ``name``/``peer_urls`` (as a learner by default) unless it is a member already (idempotent).

    Returns ``{'added': bool, 'member': member (id None in check mode), 'members': [...], 'initial_cluster':
    str}``. Raises EtcdError(kind='config') when name and peer URLs point at different members."""
    if members is None:
        members = client.member_list()['members']
    member, conflict = match_member(members, name, peer_urls)
    if conflict:
        raise EtcdError('Cannot tell which member is meant: %s.' % conflict, kind=KIND_CONFIG)
    if member is not None:
        return dict(added=False, member=member, members=members,
                    initial_cluster=initial_cluster(members, name, peer_urls, member['id']))
    if check_mode:
        new = dict(id=None, name='', peer_urls=list(peer_urls), client_urls=[], is_learner=bool(learner))
        return dict(added=True, member=new, members=list(members) + [new],
                    initial_cluster=initial_cluster(members, name, peer_urls))
    try:
        added = retry_unhealthy(lambda: client.member_add(peer_urls, is_learner=learner), wait_timeout, sleep, clock)
    except EtcdError as err:
        # the answer was lost: re-read; the member is there if the addition was applied
        seen = {}

        def check():
            seen['members'] = client.member_list(linearizable=True)['members']
            seen['member'] = match_member(seen['members'], None, peer_urls)[0]
            return seen['member'] is not None
        confirm(err, check, 'the addition of member %s (%s)' % (name, ', '.join(peer_urls)))
        added = dict(member=seen['member'], members=seen['members'])
    members = added['members'] or _members_after(client, list(members) + [added['member']])
    return dict(added=True, member=added['member'], members=members,
                initial_cluster=initial_cluster(members, name, peer_urls, added['member']['id']))


def _members_after(client, expected):
    """The member list after a change that was applied: read it, or (when that read fails) what it must be -
    a failed read must not turn a done change into a failure that reports nothing changed."""
    try:
        return client.member_list()['members']
    except EtcdError:
        return expected


def learner_state(client, member, leader):
    """What the operator needs to know about a learner that could not be promoted: ``(dict, sentence)``."""
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


def promote_learner(client, member_id, wait_timeout=120, sleep=time.sleep, clock=time.time):
    """Promote the learner ``member_id``, sending the request to the leader (etcd-io/etcd#14070: etcd 3.5
    drops the credentials when a follower forwards a promotion), retrying while it catches up, until
    ``wait_timeout``. Returns ``(promoted: bool, members)``: False when it was a voter already.

    On failure raises EtcdError whose ``details`` hold ``learner`` (see ``learner_state``) and ``attempts``;
    kind ``not_found`` when the member disappeared."""
    deadline = clock() + wait_timeout
    last = last_endpoint = leader = None
    attempts = 0
    member = dict(id=member_id, name='', peer_urls=[], client_urls=[], is_learner=True)
    while True:
        members = client.member_list()['members']
        current = [m for m in members if m['id'] == member_id]
        if not current:
            raise EtcdError('Learner %s was removed from the cluster while waiting to promote it.'
                            % describe(member), kind=KIND_NOT_FOUND)
        member = current[0]
        if not member['is_learner']:
            return attempts > 0, members  # promoted meanwhile (e.g. an earlier attempt whose answer was lost)
        endpoint, leader = find_leader(client, members)
        attempts += 1
        try:
            return True, client.member_promote(member_id, endpoint=endpoint) or _members_after(
                client, [dict(m, is_learner=False) if m['id'] == member_id else m for m in members])
        except EtcdError as err:
            to_follower = endpoint is None and 'user name is empty' in (err.server_message or '')
            if err.kind not in PROMOTE_RETRY_KINDS and not to_follower:
                raise
            last, last_endpoint = err, endpoint
        if clock() >= deadline:
            break
        sleep(min(1.0, max(0.0, deadline - clock())))
    state, text = learner_state(client, member, leader)
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
    raise EtcdError('Learner %s could not be promoted within wait_timeout=%gs (%d attempts): etcd answered "%s" '
                    'from %s; %s. %s' % (describe(member), wait_timeout, attempts,
                                         last.server_message or last.message, where, text, hint),
                    kind=last.kind, endpoint=last_endpoint, code=last.code, server_message=last.server_message,
                    details=dict(learner=state, attempts=attempts))


def remove_member(client, member_id, force=False, wait_timeout=120, check_mode=False, view=None,
                  sleep=time.sleep, clock=time.time):
    """Remove ``member_id`` unless that breaks (or the cluster already lacks) a healthy quorum of voting
    members; ``force=True`` removes anyway. Returns ``{'removed': bool, 'warning': str or None, 'members':
    [...], 'quorum': {...}}``; a refusal raises EtcdError(kind='precondition') with ``details['quorum']``."""
    view = view or cluster_view(client)
    members = view['members']
    target = [m for m in members if m['id'] == member_id]
    if not target:
        return dict(removed=False, warning=None, members=members, quorum=view['quorum'])
    healthy = set(k for k, v in view['health'].items() if v)
    reason = removal_check(members, healthy, member_id)
    if reason and not force:
        raise EtcdError('Refusing to remove member %s: %s. Bring the unhealthy members back first, or set '
                        'force=true if you accept losing quorum.' % (describe(target[0]), reason),
                        kind=KIND_PRECONDITION, details=dict(quorum=view['quorum']))
    warning = 'removing member %s although %s (force=true)' % (describe(target[0]), reason) if reason else None
    if check_mode:
        after = [m for m in members if m['id'] != member_id]
    else:
        try:
            after = retry_unhealthy(lambda: client.member_remove(member_id), wait_timeout, sleep, clock)
        except EtcdError as err:
            # the answer was lost: re-read; the member is gone if the removal was applied
            seen = {}

            def check():
                seen['members'] = client.member_list(linearizable=True)['members']
                return member_id not in [m['id'] for m in seen['members']]
            confirm(err, check, 'the removal of member %s' % describe(target[0]))
            after = seen['members']
        after = after or _members_after(client, [m for m in members if m['id'] != member_id])
    return dict(removed=True, warning=warning, members=after, quorum=view['quorum'])


def was_removed(client, member_id, endpoints=None):
    """Has this member been removed from the cluster? Asks with a linearizable member list (so a minority
    cannot answer) at ``endpoints`` (e.g. the other members' client URLs; default: the client's endpoints with
    fail-over).

    Returns True (the id is not in the list), False (still a member), or None when no endpoint answered
    (unknown: do not act on it)."""
    for ep in (endpoints or [None]):
        try:
            listing = client.member_list(endpoint=ep, linearizable=True)
        except EtcdError as err:
            if err.kind in FATAL_KINDS:
                raise
            continue
        return member_id not in set(m['id'] for m in listing['members'])
    return None
