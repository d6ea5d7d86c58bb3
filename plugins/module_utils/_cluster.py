# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Cluster view shared by the modules: member health, quorum, member matching and alarm rules.

The functions that take plain data (``quorum``, ``removal_check``, ``match_member``, ``alarm_plan``) are pure
and unit tested; ``cluster_view`` talks to etcd through an ``EtcdClient``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import (
    EtcdError,
    format_id,
    normalize_endpoint,
)


def normalize_url(url):
    """Compare peer URLs loosely: lower-case scheme/host, no trailing slash."""
    url = str(url).strip().rstrip('/')
    if '://' in url:
        scheme, rest = url.split('://', 1)
        host, sep, path = rest.partition('/')
        url = scheme.lower() + '://' + host.lower() + sep + path
    return url


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
            for url in m.get('client_urls') or []:
                try:
                    url = normalize_endpoint(url)
                except EtcdError:
                    continue
                if url in known:
                    continue
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
