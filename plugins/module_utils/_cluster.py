# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Cluster policy: view, quorum, leader discovery (one implementation), raft lag, health gate, member matching,
alarm rules, choice of the member to snapshot and of a restore source. Standard library only.

Pure functions (unit tested on tables): ``quorum``, ``removal_check``, ``match_member``, ``alarm_plan``,
``gate_problems``, ``raft_lag``, ``index_spread``, ``choose_snapshot_member``, ``choose_restore_source``.
``cluster_view``, ``find_leader``, ``wait_for_gate`` and ``wait_caught_up`` talk to etcd through an
``EtcdClient``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id, normalize_endpoint

# errors that no waiting or other endpoint will cure
FATAL_KINDS = ('auth', 'permission', 'config')


def normalize_url(url):
    """Compare peer URLs loosely: lower-case scheme/host, no trailing slash."""
    url = str(url).strip().rstrip('/')
    if '://' in url:
        scheme, rest = url.split('://', 1)
        host, sep, path = rest.partition('/')
        url = scheme.lower() + '://' + host.lower() + sep + path
    return url


def member_client_urls(member, skip=()):
    """The member's advertised client URLs, normalized, without those in ``skip`` and those that cannot be
    endpoints."""
    out = []
    for url in member.get('client_urls') or []:
        try:
            url = normalize_endpoint(url)
        except EtcdError:
            continue
        if url not in skip:
            out.append(url)
    return out


def public_member(member, health=None):
    """Member as returned by the modules (hex id)."""
    out = dict(id=format_id(member['id']), name=member.get('name') or '',
               peer_urls=list(member.get('peer_urls') or []), client_urls=list(member.get('client_urls') or []),
               is_learner=bool(member.get('is_learner')))
    if health is not None:
        out['healthy'] = bool(health.get(member['id']))
    return out


def quorum(members, healthy_ids):
    """Quorum of the voting members; ``healthy_ids``: ids of members known healthy."""
    voting = [m for m in members if not m.get('is_learner')]
    healthy_voting = len([m for m in voting if m['id'] in healthy_ids])
    required = len(voting) // 2 + 1 if voting else 0
    return dict(voting=len(voting), healthy_voting=healthy_voting, required=required,
                ok=bool(voting) and healthy_voting >= required)


def removal_check(members, healthy_ids, remove_id):
    """Return None when removing ``remove_id`` keeps a healthy quorum, else the reason why not."""
    target = [m for m in members if m['id'] == remove_id]
    if not target:
        return None
    if target[0].get('is_learner'):
        return None
    voting = [m for m in members if not m.get('is_learner')]
    if len(voting) <= 1:
        return 'it is the last voting member of the cluster'
    after = [m for m in voting if m['id'] != remove_id]
    required_after = len(after) // 2 + 1
    healthy_after = len([m for m in after if m['id'] in healthy_ids])
    if healthy_after < required_after:
        return ('after removing it %d of the remaining %d voting members would be healthy, but %d are needed for '
                'quorum' % (healthy_after, len(after), required_after))
    before = quorum(members, healthy_ids)
    if not before['ok']:
        return ('the cluster has no healthy quorum now (%d of %d voting members healthy, %d needed); membership '
                'changes need quorum' % (before['healthy_voting'], before['voting'], before['required']))
    return None


def match_member(members, name=None, peer_urls=None):
    """Find the member meant by ``name`` and/or ``peer_urls``.

    Returns ``(member or None, conflict message or None)``. A member matches by name, or by sharing any peer
    URL. Name and URLs pointing at different members, or a partial URL overlap, are conflicts.
    """
    wanted = set(normalize_url(u) for u in (peer_urls or []))
    by_name = [m for m in members if name and m.get('name') == name]
    by_url = [m for m in members if wanted and wanted & set(normalize_url(u) for u in m.get('peer_urls') or [])]
    if len(by_url) > 1:
        return None, ('peer_urls %s belong to several members (%s); give the peer URLs of one member'
                      % (', '.join(sorted(wanted)), ', '.join(_describe(m) for m in by_url)))
    if by_name and by_url and by_name[0]['id'] != by_url[0]['id']:
        return None, ('name %r is member %s but peer_urls %s belong to member %s; fix name or peer_urls'
                      % (name, _describe(by_name[0]), ', '.join(sorted(wanted)), _describe(by_url[0])))
    member = (by_name or by_url or [None])[0]
    if member is None:
        return None, None
    if name and member.get('name') and member['name'] != name:
        return None, ('peer_urls %s belong to member %s, not to %r; fix name or peer_urls'
                      % (', '.join(sorted(wanted)), _describe(member), name))
    have = set(normalize_url(u) for u in member.get('peer_urls') or [])
    if wanted and have != wanted:
        return None, ('member %s has peer URLs %s, not %s; changing the peer URLs of a member is not done by this '
                      'module (remove and re-add it, or use etcdctl member update)'
                      % (_describe(member), ', '.join(sorted(have)), ', '.join(sorted(wanted))))
    return member, None


def _describe(member):
    return '%s (%s)' % (format_id(member['id']), member.get('name') or 'unstarted')


def alarm_plan(alarms, which, sizes, quota_bytes, max_usage, force=False):
    """Decide which alarms to disarm.

    ``alarms``: list of {'member_id', 'alarm'}; ``which``: NOSPACE, CORRUPT or ALL; ``sizes``: {member_id:
    db_size or None} for every member; ``quota_bytes``: backend quota; ``max_usage``: percent.
    Returns ``(to_disarm, refusals, usage_percent)``; when ``refusals`` is not empty nothing may be disarmed.
    """
    selected = [a for a in alarms if a['alarm'] != 'NONE' and (which == 'ALL' or a['alarm'] == which)]
    refusals = []
    known = [s for s in sizes.values() if s is not None]
    usage = (100.0 * max(known) / quota_bytes) if (known and quota_bytes) else None
    if not force:
        if any(a['alarm'] == 'CORRUPT' for a in selected):
            refusals.append('a CORRUPT alarm is active (member %s): etcd found inconsistent data; find and replace '
                            'the corrupt member before disarming (force=true disarms anyway)'
                            % ', '.join(format_id(a['member_id']) for a in selected if a['alarm'] == 'CORRUPT'))
        if any(a['alarm'] == 'NOSPACE' for a in selected):
            unknown = [format_id(k) for k, v in sorted(sizes.items()) if v is None]
            if unknown:
                refusals.append('NOSPACE: the database size of member(s) %s could not be read, so quota usage is '
                                'unknown (force=true disarms anyway)' % ', '.join(unknown))
            elif usage is None or usage > max_usage:
                refusals.append('NOSPACE: the largest member database uses %.1f%% of the %d-byte quota, above '
                                'max_quota_usage=%s%%; compact and defragment first (etcdkit.etcd.etcd_defrag), or '
                                'set quota_backend_bytes to the quota etcd runs with, or force=true'
                                % (usage or 0.0, quota_bytes, max_usage))
    return (selected if not refusals else []), refusals, usage


def cluster_view(client, probe_members=True, timeout=None, tolerate_no_listing=False):
    """Ask etcd for members, per-endpoint status/health and the resulting quorum.

    Returns dict(cluster_id, members, member_list_error, endpoints (probes of the configured endpoints and,
    with ``probe_members``, of members not reached through them), health {member_id: bool},
    status {member_id: probe}, leader_id, quorum). Raises EtcdError when no endpoint can list the members,
    unless ``tolerate_no_listing`` and a member answered without being able to serve (no leader, timeout):
    then ``members`` is empty, ``cluster_id`` None and ``member_list_error`` says why (etcd >= 3.5.28 with auth
    on answers no member list, not even a serializable one, without a leader: authentication is a raft request).
    """
    probes = client.endpoint_report(timeout=timeout)
    listing = None
    errors = []
    try:
        listing = client.member_list(linearizable=True, timeout=timeout)
    except EtcdError as err:
        if err.kind in ('auth', 'permission', 'config'):
            raise
        errors.append(err)
        try:
            listing = client.member_list(linearizable=False, timeout=timeout)
        except EtcdError as err2:
            # tolerated only when a member was reached but could not serve (no leader, timed out), never when
            # nothing answered (unreachable, TLS, bad credentials)
            kinds = set(e.kind for e in (err.errors or [err]) + (err2.errors or [err2]))
            if not (tolerate_no_listing and kinds & set(['no_leader', 'timeout', 'unavailable'])):
                raise err
            listing = dict(cluster_id=None, members=[])
    members = listing['members']
    by_member = {}
    for p in probes:
        if p.get('member_id') and p['member_id'] not in by_member:
            by_member[p['member_id']] = p
    if probe_members:
        known = set(normalize_endpoint(p['endpoint']) for p in probes)
        for m in members:
            if m['id'] in by_member:
                continue
            for url in member_client_urls(m, known):
                p = client.probe(url, timeout=timeout)
                probes.append(p)
                known.add(url)
                if p.get('member_id') == m['id']:
                    by_member[m['id']] = p
                    break
    health = dict((m['id'], bool(by_member.get(m['id'], {}).get('healthy'))) for m in members)
    leaders = {}
    for p in probes:
        if p.get('leader_id'):
            leaders[p['leader_id']] = leaders.get(p['leader_id'], 0) + 1
    leader_id = max(leaders, key=lambda k: leaders[k]) if leaders else 0
    return dict(
        cluster_id=listing['cluster_id'], members=members, endpoints=probes, health=health, status=by_member,
        leader_id=leader_id, leaders=sorted(leaders), quorum=quorum(members, set(k for k, v in health.items() if v)),
        member_list_linearizable=not errors,
        member_list_error=errors[0].message if errors and not members else None,
    )


def public_endpoint(probe):
    errors = list(probe.get('errors') or [])
    if probe.get('error') and probe['error'] not in errors:
        errors.append(probe['error'])
    return dict(
        endpoint=probe['endpoint'], healthy=bool(probe.get('healthy')), version=probe.get('version'),
        member_id=format_id(probe['member_id']) if probe.get('member_id') else None,
        is_leader=probe.get('is_leader'), is_learner=probe.get('is_learner'), db_size=probe.get('db_size'),
        db_size_in_use=probe.get('db_size_in_use'), raft_term=probe.get('raft_term'),
        raft_index=probe.get('raft_index'), raft_applied_index=probe.get('raft_applied_index'),
        revision=probe.get('revision'), errors=errors,
    )


# ------------------------------------------------------------------------------------------------ leader

def find_leader(client, members=None, probes=None, timeout=None):
    """Find the leader: ``(endpoint, status)``. Asks the configured endpoints (or uses ``probes`` already taken),
    then the advertised client URLs of the member the others name as leader (``members``: member list; read
    when None). ``(None, status of a member that names a leader or None)`` when no reachable member leads."""
    known = None
    statuses = probes if probes is not None else []
    if probes is None:
        for ep in client.endpoints:
            try:
                statuses.append(client.status(ep, timeout=timeout))
            except EtcdError:
                continue
    for st in statuses:
        if st.get('is_leader'):
            return st['endpoint'], st
        if st.get('leader_id') and known is None:
            known = st
    if known is None:
        return None, None
    if members is None:
        try:
            members = client.member_list(timeout=timeout)['members']
        except EtcdError:
            return None, known
    asked = set(normalize_endpoint(st['endpoint']) for st in statuses if st.get('endpoint'))
    for member in members:
        if member['id'] != known['leader_id']:
            continue
        for url in member_client_urls(member, asked):
            try:
                st = client.status(url, timeout=timeout)
            except EtcdError:
                continue
            if st['is_leader']:
                return url, st
    return None, known


def raft_lag(leader_raft_index, probe):
    """How far the member's applied index is behind the leader's raft index (None when unknown)."""
    if leader_raft_index is None or not probe or probe.get('raft_applied_index') is None:
        return None
    return max(int(leader_raft_index) - int(probe['raft_applied_index']), 0)


def index_spread(probes):
    """Largest minus smallest applied raft index over the probes that answered (0 with fewer than two)."""
    values = [p['raft_applied_index'] for p in probes if p.get('raft_applied_index') is not None
              and p.get('member_id')]
    return (max(values) - min(values)) if len(values) > 1 else 0


# ------------------------------------------------------------------------------------------- health gate

def _nospace_only(probe):
    """True when the only thing wrong with a member is an active NOSPACE alarm."""
    texts = [t for t in [probe.get('error') or ''] + list(probe.get('errors') or []) if t]
    return bool(texts) and bool(probe.get('leader_id')) and all('NOSPACE' in t.upper() for t in texts)


def gate_problems(view, alarms=None, max_raft_index_spread=None, allow_nospace=False):
    """Every reason the cluster is not fully healthy (empty list: the gate is open). Pure over a
    ``cluster_view`` result. Checks: each member reachable and healthy (an added, unstarted member counts as
    unhealthy), endpoints that belong to another cluster or member list, exactly one leader all agree on,
    healthy quorum of the voting members, active alarms (``alarms``: list of {member_id, alarm}; NOSPACE is
    tolerated with ``allow_nospace``), and the spread of applied raft indexes over the members that answered
    (``max_raft_index_spread``; None: not checked)."""
    problems = []
    members = view['members']
    no_listing = view.get('member_list_error')
    if no_listing:
        problems.append('the members could not be listed: %s' % no_listing)
    for m in members:
        if view['health'].get(m['id']):
            continue
        probe = view['status'].get(m['id'])
        if probe is not None:
            if allow_nospace and _nospace_only(probe):
                continue
            why = probe.get('error') or 'unhealthy'
        elif not m.get('name'):
            why = 'added but not started yet'
        else:
            urls = [u.rstrip('/') for u in m.get('client_urls') or []]
            tried = [p for p in view['endpoints'] if p['endpoint'] in urls]
            why = '; '.join(p['error'] for p in tried if p.get('error')) or 'no endpoint of this member answered'
        problems.append('member %s (%s) is unhealthy: %s' % (format_id(m['id']), m.get('name') or 'unstarted', why))
    member_ids = set(m['id'] for m in members)
    for p in view['endpoints']:
        if p.get('member_id') is None and p.get('error'):
            if not any(p['endpoint'] in [u.rstrip('/') for u in m.get('client_urls') or []] for m in members):
                problems.append('endpoint %s: %s' % (p['endpoint'], p['error']))
        elif no_listing:
            continue  # without a member list there is nothing to compare an answering endpoint with
        elif p.get('member_id') and p['member_id'] not in member_ids:
            problems.append('endpoint %s belongs to member %s which is not in the member list (cluster %s)'
                            % (p['endpoint'], format_id(p['member_id']), format_id(p.get('cluster_id'))))
        elif p.get('cluster_id') and p['cluster_id'] != view['cluster_id']:
            problems.append('endpoint %s is in cluster %s, not %s' % (p['endpoint'], format_id(p['cluster_id']),
                                                                      format_id(view['cluster_id'])))
    if not view.get('leader_id'):
        problems.append('no member knows a leader')
    elif len(view.get('leaders') or []) > 1:
        problems.append('members disagree on the leader: %s' % ', '.join(format_id(x) for x in view['leaders']))
    for a in alarms or []:
        if allow_nospace and a['alarm'] == 'NOSPACE':
            continue
        problems.append('alarm %s is active on member %s' % (a['alarm'], format_id(a['member_id'])))
    q = view['quorum']
    if allow_nospace and not q['ok']:
        # a cluster-wide NOSPACE alarm makes every member answer unhealthy; such members still form a quorum
        serving = set(k for k, v in view['health'].items() if v)
        serving |= set(k for k, p in view['status'].items() if _nospace_only(p))
        q = quorum(members, serving)
    if not q['ok'] and no_listing:
        problems.append('no healthy quorum: no member answered the member list')
    elif not q['ok']:
        problems.append('no healthy quorum: %d of %d voting members healthy, %d needed'
                        % (q['healthy_voting'], q['voting'], q['required']))
    if max_raft_index_spread is not None:
        probes = list(view['status'].values())
        spread = index_spread(probes)
        if spread > max_raft_index_spread:
            problems.append('applied raft indexes differ by %d (more than max_raft_index_spread=%d): %s'
                            % (spread, max_raft_index_spread,
                               ', '.join('%s=%s' % (p['endpoint'], p.get('raft_applied_index')) for p in probes)))
    return problems


def health_gate(client, alarms=True, max_raft_index_spread=None, allow_nospace=False, probe_members=True,
                timeout=None):
    """One look at the cluster: ``(view, alarms, problems)``. ``alarms=False`` skips reading the alarms. An alarm
    list that cannot be read is a problem, and so is a member list that no member can serve (``cluster_view``
    with ``tolerate_no_listing``). Raises EtcdError when no member answers at all."""
    view = cluster_view(client, probe_members=probe_members, timeout=timeout, tolerate_no_listing=True)
    active = []
    extra = []
    if alarms:
        try:
            active = client.alarm_list(timeout=timeout)
        except EtcdError as err:
            extra.append('alarms could not be read: %s' % err.message)
    problems = extra + gate_problems(view, active, max_raft_index_spread, allow_nospace)
    return view, active, problems


def wait_for_gate(client, wait_timeout, sleep=time.sleep, clock=time.time, **kwargs):
    """Repeat ``health_gate`` until it opens or ``wait_timeout`` seconds pass. Returns ``(view, alarms, [])`` or
    ``(view, alarms, problems)``. Errors of kinds in FATAL_KINDS are raised at once; when the members cannot be
    listed at the deadline, that error is raised (so a returned view is never None)."""
    deadline = clock() + wait_timeout
    while True:
        try:
            view, active, problems = health_gate(client, **kwargs)
        except EtcdError as err:
            if err.kind in FATAL_KINDS or clock() >= deadline:
                raise
            view, active, problems = None, [], [err.message]
        if not problems or clock() >= deadline:
            return view, active, problems
        sleep(min(1.0, max(0.0, deadline - clock())))


def wait_caught_up(client, endpoint, wait_timeout, max_lag, is_learner=False, allow_nospace=True,
                   sleep=time.sleep, clock=time.time):
    """Wait until the member at ``endpoint`` is healthy and its applied index at most ``max_lag`` behind the
    leader's raft index. Returns ``(probe, problem or None)``."""
    deadline = clock() + wait_timeout
    while True:
        probe = client.probe(endpoint)
        problem = None
        if not probe.get('healthy') and not (allow_nospace and _nospace_only(probe)):
            problem = probe.get('error') or 'unhealthy'
        elif not probe.get('is_leader') and not is_learner:
            leader_ep, leader = find_leader(client)
            lag = raft_lag(leader.get('raft_index') if leader_ep else None, probe)
            if lag is None:
                problem = 'leader not reachable'
            elif lag > max_lag:
                problem = 'applied index %s is %d behind the leader' % (probe.get('raft_applied_index'), lag)
        if problem is None or clock() >= deadline:
            return probe, problem
        sleep(min(0.5, max(0.0, deadline - clock())))


# ------------------------------------------------------------------------------------------ maintenance

def compact_history(client, view, keep, check_mode=False):
    """Compact (physically) up to the newest revision of ``view`` minus ``keep``, so the newest ``keep``
    revisions stay readable. In check mode a read just below the target tells whether that is done already.
    Returns ``{'revision', 'target', 'compacted': bool[, 'reason']}``; "already compacted" is not an error."""
    revision = max([p.get('revision') or 0 for p in view['status'].values()] or [0])
    target = revision - keep
    info = dict(revision=revision, target=target, compacted=False)
    if target < 1:
        info['reason'] = 'fewer than %d revisions' % keep
        return info
    try:
        if not check_mode:
            client.compact(target, physical=True)
        elif target > 1:
            # a read at target-1 fails when the history is already compacted up to target or beyond
            client.range('\0', revision=target - 1, count_only=True)
    except EtcdError as err:
        if 'compacted' in (err.server_message or err.message).lower():
            info['reason'] = 'already compacted'
            return info
        raise EtcdError('Compaction failed: %s' % err.message, kind=err.kind, endpoint=err.endpoint,
                        code=err.code, server_message=err.server_message)
    info['compacted'] = True
    return info


def wait_sizes_settle(client, endpoints, wait_timeout, sleep=time.sleep, clock=time.time):
    """After a compaction every member compacts in the background and its in-use size drops in steps: wait until
    the sizes of all ``endpoints`` are the same on two polls one second apart (or ``wait_timeout`` passes)."""
    deadline = clock() + wait_timeout

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
    while clock() < deadline:
        sleep(1)
        cur = sizes()
        if cur == last:
            return True
        last = cur
    return False


# --------------------------------------------------------------------------------------- snapshot source

def choose_snapshot_member(probes, leader_raft_index, max_lag):
    """Pick the member to stream a snapshot from: healthy, a voter, caught up (applied index at most
    ``max_lag`` behind ``leader_raft_index`` when known); followers first, then the least lag, then the order
    of ``probes``. Returns ``(probe or None, [problem, ...])``. Probes of different clusters are a problem."""
    reachable = [p for p in probes if p.get('member_id')]
    clusters = set(p['cluster_id'] for p in reachable)
    if len(clusters) > 1:
        return None, ['the endpoints belong to different clusters (%s); give endpoints of one cluster'
                      % ', '.join(sorted(format_id(c) for c in clusters))]
    candidates, problems = [], []
    for probe in probes:
        reason = None
        lag = raft_lag(leader_raft_index, probe)
        if not probe.get('healthy'):
            reason = probe.get('error') or 'unhealthy'
        elif probe.get('is_learner'):
            reason = 'is a learner'
        elif lag is not None and lag > max_lag:
            reason = 'applied index %s is more than %d behind the leader (%s)' % (
                probe.get('raft_applied_index'), max_lag, leader_raft_index)
        if reason:
            problems.append('%s: %s' % (probe['endpoint'], reason))
        else:
            candidates.append(probe)
    if not candidates:
        return None, problems
    order = dict((p['endpoint'], i) for i, p in enumerate(probes))
    candidates.sort(key=lambda p: (bool(p.get('is_leader')), -(p.get('raft_applied_index') or 0),
                                   order[p['endpoint']]))
    return candidates[0], problems


def choose_restore_source(candidates, cluster_id=None, min_revision=None):
    """Choose what to restore from, by revision and cluster identity - never by wall-clock time (clocks differ
    between hosts and a snapshot's file time says nothing about the data).

    ``candidates``: mappings with ``name``, ``revision`` (int or None), ``verified`` (bool), ``cluster_id``
    (hex str or None = unknown, e.g. an old RAM-disk sidecar). ``cluster_id``: the identity wanted (None: any).
    ``min_revision``: the revision known acknowledged (e.g. a watermark); a source below it is still chosen
    when nothing better exists, and ``loss`` reports the gap.

    Rules: only verified candidates; with ``cluster_id`` set, candidates of another cluster are excluded and
    those of unknown identity are only used when no candidate of the right cluster exists; the highest revision
    wins; ties go to the known identity, then to the name (deterministic). Returns ``{'source': candidate or
    None, 'reason': str, 'loss': int or None, 'rejected': [{'name', 'reason'}]}``."""
    rejected = []
    same, unknown = [], []
    for cand in candidates:
        if not cand.get('verified'):
            rejected.append(dict(name=cand.get('name'), reason='not verified'))
        elif cand.get('revision') is None:
            rejected.append(dict(name=cand.get('name'), reason='revision unknown'))
        elif cluster_id is None or cand.get('cluster_id') == cluster_id:
            same.append(cand)
        elif cand.get('cluster_id') is None:
            unknown.append(cand)
        else:
            rejected.append(dict(name=cand.get('name'), reason='belongs to cluster %s, not %s'
                                 % (cand.get('cluster_id'), cluster_id)))
    pool, why = (same, 'highest verified revision') if same else (unknown, 'highest verified revision of unknown '
                                                                           'cluster identity (no snapshot of '
                                                                           'cluster %s)' % cluster_id)
    if same:
        rejected.extend(dict(name=u.get('name'), reason='cluster identity unknown and a snapshot of cluster %s '
                             'exists' % cluster_id) for u in unknown)
    if not pool:
        where = ' of cluster %s' % cluster_id if cluster_id else ''
        return dict(source=None, reason='no verified snapshot%s' % where, loss=None, rejected=rejected)
    pool = sorted(pool, key=lambda c: (int(c['revision']), c.get('cluster_id') is not None, str(c.get('name'))),
                  reverse=True)
    best = pool[0]
    for other in pool[1:]:
        why = 'lower revision %s than %s' % (other['revision'], best['revision'])
        rejected.append(dict(name=other.get('name'), reason=why))
    loss = None
    if min_revision is not None:
        loss = max(int(min_revision) - int(best['revision']), 0)
    return dict(source=best, reason=why, loss=loss, rejected=rejected)
