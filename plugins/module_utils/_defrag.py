# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""A defragmentation run (standard library only): the one implementation behind the module ``etcd_defrag``, the
playbooks and the node-side defrag timer.

One member at a time: the rule of ``_defrag_rules`` decides, learners go first, then followers, the leader last;
before the leader's turn its leadership is handed to a healthy, caught-up voting member (``MoveLeader``), so no
member is defragmented while it leads. Before each member the health gate must be open (an active NOSPACE alarm
does not close it: defragmentation is part of its cure); after each member the run waits until it is healthy and
has caught up with the leader. Optionally the key history is compacted first.

On a RAM disk (tmpfs) bbolt writes the defragmented copy of the database next to the old file before the rename,
in RAM: ``space_problem`` refuses a member whose file system has less free space than that copy needs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import (
    _nospace_only,
    compact_history,
    health_gate,
    raft_lag,
    wait_caught_up,
    wait_for_gate,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag_rules import (
    MIB,
    normalize_rule,
    order_members,
    plan as plan_defrag,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError, EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id

# headroom on top of the in-use size for the copy that bbolt writes during a defragmentation (page rounding,
# the file's growth steps, the writes that arrive meanwhile)
DEFAULT_SPACE_RESERVE = 64 * MIB


class DefragError(CoreError):
    """A defragmentation run that stopped: the message says which member and why, and what was left untouched."""


# The cluster's defragmentation turn: the node timers of the members take it before defragmenting, so two members
# never defragment at the same moment whatever their timers say (each timer's time depends on its member only).
TURN_KEY = '/etcdkit/defrag/turn'


def turn_decision(kv, holder, now):
    """Pure. Whether ``holder`` may take the defragmentation turn, given the turn key as read (``kv``: dict with
    ``value`` and ``mod_revision``, or None when absent) at wall-clock time ``now``: ``('take', mod_revision)`` when
    the key is absent, unreadable, expired (its ``until`` has passed: its holder ended without giving it back) or
    already held by ``holder`` (an earlier run of the same member that ended without giving it back; runs of one
    member exclude each other with a local lock), else ``('wait', other holder, until)``."""
    if not kv:
        return ('take', 0)
    try:
        value = json.loads(kv.get('value') or '')
        other, until = value['holder'], float(value['until'])
    except (ValueError, TypeError, KeyError):
        return ('take', kv['mod_revision'])
    if other == holder or until <= now:
        return ('take', kv['mod_revision'])
    return ('wait', other, until)


class DefragTurn(object):
    """The cluster-wide defragmentation turn (``TURN_KEY``), taken with a compare-and-swap: ``take()`` waits
    (polling every ``poll`` seconds, at most ``wait_seconds``) while another member holds it, then holds it for at
    most ``hold_seconds`` (then it expires, should this run die without ``release()``)."""

    def __init__(self, client, holder, hold_seconds, wait_seconds, key=TURN_KEY, poll=1.0, sleep=time.sleep,
                 clock=time.time):
        self.client, self.holder, self.key = client, holder, key
        self.hold_seconds, self.wait_seconds, self.poll = float(hold_seconds), float(wait_seconds), float(poll)
        self.sleep, self.clock = sleep, clock
        self.revision = None
        self.waited_for = []

    def take(self):
        """Take the turn; True when another member held it first (the caller must look at the cluster again)."""
        deadline = self.clock() + self.wait_seconds
        while True:
            try:
                decision = turn_decision(self.client.get(self.key), self.holder, self.clock())
                if decision[0] == 'take':
                    value = json.dumps({'holder': self.holder, 'until': self.clock() + self.hold_seconds})
                    ok, revision = self.client.put_if_unchanged(self.key, value, decision[1])
                    if ok:
                        self.revision = revision
                        return bool(self.waited_for)
                    continue  # another member took it in between: read again
            except EtcdError as err:
                raise DefragError('Cannot take the defragmentation turn of the cluster (key %s): %s; nothing was '
                                  'defragmented.' % (self.key, err.message), details=dict(error=err.to_dict()))
            if decision[1] not in self.waited_for:
                self.waited_for.append(decision[1])
            if self.clock() >= deadline:
                raise DefragError('%s holds the defragmentation turn of the cluster (key %s) until %s; waited %ss, '
                                  'nothing was defragmented.'
                                  % (decision[1], self.key, time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                                                          time.gmtime(decision[2])),
                                     int(self.wait_seconds)))
            self.sleep(max(0.0, min(self.poll, deadline - self.clock())))

    def release(self):
        """Give the turn back (only if it is still ours); a failure leaves it to expire."""
        if self.revision is None:
            return
        try:
            self.client.delete_if_unchanged(self.key, self.revision)
        except EtcdError:
            pass
        self.revision = None


def space_problem(name, db_size_in_use, free_bytes, reserve_bytes=DEFAULT_SPACE_RESERVE):
    """Pure. ``None`` when the file system of a member's data dir has room for the defragmented copy of its
    database (``free_bytes``: free bytes there; ``None`` = not checked, e.g. not a tmpfs), else a sentence."""
    if free_bytes is None:
        return None
    needed = int(db_size_in_use or 0) + int(reserve_bytes or 0)
    if int(free_bytes) >= needed:
        return None
    return ('%s: the file system of its data dir has %d bytes free, less than the %d bytes its defragmentation '
            'needs for the copy of the database (%d bytes in use + %d reserve); grow the tmpfs (ramdisk_size) or '
            'free space before defragmenting'
            % (name, int(free_bytes), needed, int(db_size_in_use or 0), int(reserve_bytes or 0)))


def choose_transferee(members, probes, leader_id, max_lag, prefer=(), allow_nospace=False):
    """Pure. The member to hand leadership to: a started voting member other than the leader, healthy (with
    ``allow_nospace``, a member whose only problem is an active NOSPACE alarm counts as healthy: under that alarm
    every member answers unhealthy, and defragmentation is part of its cure), at most ``max_lag`` behind the
    leader's raft index; members in ``prefer`` (ids, e.g. already defragmented) first, then the smallest lag, then
    the name. ``(member or None, [reasons the others were passed over])``."""
    leader_probe = probes.get(leader_id) or {}
    leader_index = leader_probe.get('raft_index')
    ranked = []
    passed = []
    for m in members:
        if m['id'] == leader_id:
            continue
        label = m.get('name') or format_id(m['id'])
        probe = probes.get(m['id'])
        if m.get('is_learner'):
            passed.append('%s is a learner' % label)
        elif not m.get('name'):
            passed.append('%s has not started' % label)
        elif not probe or not (probe.get('healthy') or (allow_nospace and _nospace_only(probe))):
            passed.append('%s is not healthy' % label)
        else:
            lag = raft_lag(leader_index, probe)
            if lag is None or lag > max_lag:
                passed.append('%s is %s behind the leader' % (label, 'unknown' if lag is None else lag))
            else:
                ranked.append(((0 if m['id'] in prefer else 1), lag, label, m))
    ranked.sort(key=lambda x: x[:3])
    return (ranked[0][3] if ranked else None), passed


def _gate(client, wait_timeout, what):
    view, dummy, problems = wait_for_gate(client, wait_timeout, alarms=False, allow_nospace=True)
    if problems:
        raise DefragError('Health gate closed%s: %s' % (what, '; '.join(problems)))
    return view


def member_entries(view):
    """The members of a ``cluster_view`` as the rule's input (name, ids, role flags, sizes, endpoint)."""
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


def plan_run(view, rule, force=False, only=None, free_space=None, reserve_bytes=DEFAULT_SPACE_RESERVE):
    """Pure over a ``cluster_view``: the planned members (the module's ``members`` result) and the space refusals.
    ``only``: member names to consider (None: all); ``free_space``: {name: free bytes of its data dir's file system
    or None}."""
    entries = member_entries(view)
    try:
        planned = plan_defrag(entries, rule, force=force)
    except ValueError as exc:
        raise DefragError(str(exc))
    by_id = dict((e['member_id'], e) for e in entries)
    members = []
    refusals = []
    for item in planned:
        selected = only is None or item['name'] in only
        entry = dict(name=item['name'], member_id=item['member_id'], endpoint=by_id[item['member_id']]['endpoint'],
                     role=item['role'], defrag=bool(item['defrag'] and selected), defragmented=False,
                     reasons=item['reasons'] if selected else ['not selected (members)'],
                     before=dict(db_size=item['db_size'], db_size_in_use=item['db_size_in_use']), after=None,
                     seconds=None)
        if entry['defrag']:
            problem = space_problem(item['name'], item['db_size_in_use'], (free_space or {}).get(item['name']),
                                    reserve_bytes)
            if problem:
                refusals.append(problem)
        members.append(entry)
    return members, refusals


def _next_member(client, wait_timeout, remaining, done_names):
    """Re-check the roles after the previous member (a leader election may have happened): the next one in order."""
    view = _gate(client, wait_timeout, ' after defragmenting %s; not touching %s'
                 % (', '.join(done_names), ', '.join(m['name'] for m in remaining)))
    current = dict((e['member_id'], e) for e in member_entries(view))
    for m in remaining:
        cur = current.get(m['member_id'])
        if cur is not None:
            m['role'] = 'learner' if cur['is_learner'] else ('leader' if cur['is_leader'] else 'follower')
            m['endpoint'] = cur['endpoint'] or m['endpoint']
    nxt = order_members([dict(name=m['name'], member_id=m['member_id'], is_leader=m['role'] == 'leader',
                              is_learner=m['role'] == 'learner') for m in remaining])[0]
    return [m for m in remaining if m['member_id'] == nxt['member_id']][0], view


def move_leadership(client, view, wait_timeout, max_lag, prefer=(), sleep=time.sleep, clock=time.time):
    """Hand the leadership of ``view``'s leader to the best ``choose_transferee`` and wait (``wait_timeout``) until
    the gate is open with another leader. Returns ``{'from', 'to', 'seconds'}`` (names); raises DefragError when no
    member can take it or the move does not happen in time."""
    leader_id = view.get('leader_id')
    leader = [m for m in view['members'] if m['id'] == leader_id]
    leader_probe = view['status'].get(leader_id) or {}
    if not leader or not leader_probe.get('endpoint'):
        raise DefragError('Cannot move the leadership: the leader %s is not reachable.' % format_id(leader_id or 0))
    target, passed = choose_transferee(view['members'], view['status'], leader_id, max_lag, prefer, allow_nospace=True)
    name = leader[0].get('name') or format_id(leader_id)
    if target is None:
        raise DefragError('Cannot move the leadership away from %s before its defragmentation: no healthy, caught-up '
                          'voting member can take it (%s); it was not defragmented.'
                          % (name, '; '.join(passed) or 'no other voting member'))
    started = clock()
    try:
        client.move_leader(target['id'], leader_probe['endpoint'])
    except EtcdError as err:
        raise DefragError('Moving the leadership from %s to %s failed: %s; %s was not defragmented.'
                          % (name, target['name'], err.message, name), details=dict(error=err.to_dict()))
    deadline = clock() + wait_timeout
    while True:
        problems = None
        try:
            new_view, dummy, problems = health_gate(client, alarms=False, allow_nospace=True)
        except EtcdError as err:
            if clock() >= deadline:
                raise
            problems = [err.message]
            new_view = None
        if not problems and new_view['leader_id'] and new_view['leader_id'] != leader_id:
            new = [m for m in new_view['members'] if m['id'] == new_view['leader_id']]
            return dict(view=new_view, move={'from': name, 'to': new[0].get('name') if new else
                                             format_id(new_view['leader_id']),
                                             'seconds': round(clock() - started, 3)})
        if clock() >= deadline:
            raise DefragError('The leadership did not move away from %s within %ss (%s); it was not defragmented.'
                              % (name, wait_timeout, '; '.join(problems or ['it is still the leader'])))
        sleep(min(0.2, max(0.0, deadline - clock())))


def wait_in_use_settled(client, endpoints, wait_timeout, interval=0.5, sleep=time.sleep, clock=time.time):
    """After a compaction each member frees the compacted pages in the background, and etcd recomputes the in-use
    size at its next backend commit: wait until no member's in-use size dropped over two polls in a row (under a
    write load it only grows again once the freed pages show), at most ``wait_timeout`` seconds. An idle cluster
    settles at once (the freed space shows after its next write). Returns True when settled."""
    deadline = clock() + wait_timeout

    def in_use():
        out = {}
        for endpoint in endpoints:
            try:
                out[endpoint] = client.status(endpoint)['db_size_in_use']
            except EtcdError:
                out[endpoint] = None
        return out

    last = in_use()
    quiet = 0
    while clock() < deadline:
        sleep(interval)
        cur = in_use()
        dropped = any(cur[e] is None or last[e] is None or cur[e] < last[e] for e in endpoints)
        quiet = 0 if dropped else quiet + 1
        if quiet >= 2:
            return True
        last = cur
    return False


def _defragment(client, member, wait_timeout, max_raft_lag, result, free_space, reserve_bytes):
    started = time.time()
    try:
        status = client.status(member['endpoint'])
        member['before'] = dict(db_size=status['db_size'], db_size_in_use=status['db_size_in_use'])
        problem = space_problem(member['name'], status['db_size_in_use'], (free_space or {}).get(member['name']),
                                reserve_bytes)
        if problem:
            raise DefragError('Refusing to defragment %s; the remaining members were not touched.' % problem)
        client.defragment(member['endpoint'])
    except EtcdError as err:
        raise EtcdError('Defragmentation of %s (%s) failed: %s; the remaining members were not touched.'
                        % (member['name'], member['endpoint'], err.message), kind=err.kind, endpoint=err.endpoint,
                        code=err.code, server_message=err.server_message, details=err.details)
    member['defragmented'] = True
    result['changed'] = True
    result['order'].append(member['name'])
    probe, problem = wait_caught_up(client, member['endpoint'], wait_timeout, max_raft_lag,
                                    is_learner=member['role'] == 'learner')
    member['seconds'] = round(time.time() - started, 3)
    member['after'] = dict(db_size=probe.get('db_size'), db_size_in_use=probe.get('db_size_in_use'))
    return problem


def run_defrag(client, rule=None, force=False, compact_keep_revisions=None, wait_timeout=120, max_raft_lag=100,
               move_leader=True, only=None, free_space=None, reserve_bytes=DEFAULT_SPACE_RESERVE, check_mode=False,
               result=None, turn=None):
    """Run (or in check mode plan) a defragmentation of the cluster behind ``client``.

    ``only``: member names to consider (None: every member; the node timer passes its own member);
    ``free_space``: {member name: free bytes of the file system of its data dir, None = not checked}.
    ``result`` (a dict, updated in place so a failure still shows what was done): ``changed``, ``members``,
    ``order``, ``compaction``, ``leader_moves``. ``turn``: a ``DefragTurn`` taken before the first member is
    defragmented (only when there is one to do) and given back at the end; ``result['turn_waited_for']`` names the
    members it waited for. Raises DefragError/EtcdError (both CoreError) with the members not yet defragmented left
    untouched."""
    result = result if result is not None else {}
    result.setdefault('changed', False)
    result.update(members=[], order=[], compaction=None, leader_moves=[])
    try:
        rule = normalize_rule(rule)
    except ValueError as exc:
        raise DefragError(str(exc))
    view = _gate(client, wait_timeout, ', nothing was done')
    if compact_keep_revisions is not None:
        result['compaction'] = compact_history(client, view, compact_keep_revisions, check_mode)
        if result['compaction']['compacted']:
            result['changed'] = True
            if not check_mode:
                wait_in_use_settled(client, [x['endpoint'] for x in view['status'].values() if x.get('endpoint')],
                                    wait_timeout)
                view = _gate(client, wait_timeout, ' after the compaction')
    todo = _plan(view, rule, force, only, free_space, reserve_bytes, result)
    if check_mode:
        result['order'] = [m['name'] for m in todo]
        result['changed'] = result['changed'] or bool(todo)
        return result
    if turn is None or not todo:
        return _defrag_members(client, view, todo, wait_timeout, max_raft_lag, move_leader, free_space,
                               reserve_bytes, result)
    try:
        if turn.take():
            # another member was defragmented meanwhile: look at the cluster (roles, sizes) again
            result['turn_waited_for'] = list(turn.waited_for)
            view = _gate(client, wait_timeout, ' after waiting for the defragmentation turn, nothing was done')
            todo = _plan(view, rule, force, only, free_space, reserve_bytes, result)
        return _defrag_members(client, view, todo, wait_timeout, max_raft_lag, move_leader, free_space,
                               reserve_bytes, result)
    finally:
        turn.release()


def _plan(view, rule, force, only, free_space, reserve_bytes, result):
    members, refusals = plan_run(view, rule, force, only, free_space, reserve_bytes)
    result['members'] = members
    if refusals:
        raise DefragError('Refusing to defragment: %s. Nothing was defragmented.' % '; '.join(refusals))
    return [m for m in members if m['defrag']]


def _defrag_members(client, view, todo, wait_timeout, max_raft_lag, move_leader, free_space, reserve_bytes,
                    result):
    done = []
    voters = [m for m in view['members'] if not m.get('is_learner')]
    while len(done) < len(todo):
        remaining = [m for m in todo if m['member_id'] not in done]
        # the plan is in order (learners, followers, leader); later members are re-ordered after a gate
        if done:
            member, view = _next_member(client, wait_timeout, remaining, result['order'])
        else:
            member = remaining[0]
        if member['role'] == 'leader' and move_leader and len(voters) > 1:
            prefer = set(m['id'] for m in view['members'] if format_id(m['id']) in done)
            moved = move_leadership(client, view, wait_timeout, max_raft_lag, prefer)
            result['leader_moves'].append(moved['move'])
            result['changed'] = True
            member['moved_leadership_to'] = moved['move']['to']
        problem = _defragment(client, member, wait_timeout, max_raft_lag, result, free_space, reserve_bytes)
        done.append(member['member_id'])
        if problem:
            left = [m['name'] for m in todo if m['member_id'] not in done]
            raise DefragError('%s did not become healthy and caught up within %ss after its defragmentation (%s)%s'
                              % (member['name'], wait_timeout, problem,
                                 '; not touching %s' % ', '.join(left) if left else ''))
    return result
