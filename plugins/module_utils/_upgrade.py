# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Rolling-upgrade policy (pure decisions, standard library only).

Which upgrades etcd supports, from etcd's upgrade guides (etcd.io/docs, "Upgrading etcd clusters and
applications" and "Upgrade etcd from v3.5 to v3.6"):

* a patch upgrade within a minor version, or a minor upgrade ONE minor at a time (3.4 -> 3.5 -> 3.6); skipping a
  minor version is not supported, and neither is a rolling downgrade;
* before 3.6, every 3.5 member must run 3.5.32 or later (the guide's floor as of August 2026; it was 3.5.20, then
  3.5.24, then 3.5.26: each raise fixed another upgrade blocker around the v2store/v3store membership data);
* a rolling 3.4 -> 3.5 upgrade is not supported while etcd authentication is on (3.5 changed the format of the
  auth-related WAL entries; upgrade guide 3.4 -> 3.5).

Everything here is a function of its arguments (the modules collect the versions from the cluster), except
``hash_round``, the one place that asks the members for their key-space digests (``_keyspace``).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import KIND_AUTH, KIND_PERMISSION

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import member_client_urls
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._keyspace import keyspace_digest

# Lowest patch of the previous minor that may be upgraded to the given minor (etcd's upgrade guides).
MINOR_UPGRADE_FLOOR = {
    (3, 6): (3, 5, 32),
}
# Minor upgrades that cannot be done rolling while etcd authentication is enabled.
NO_ROLLING_WITH_AUTH = frozenset([(3, 5)])
# Minor versions from which on etcdutl has `check v2store` (it refuses a data dir in use: the member is stopped).
V2STORE_CHECK_TARGETS = frozenset([(3, 6)])

_VERSION_RE = re.compile(r'^v?(\d+)\.(\d+)\.(\d+)$')


def parse_version(text):
    """'3.5.30' or 'v3.5.30' -> (3, 5, 30). Raises ValueError for anything else (no pre-releases)."""
    m = _VERSION_RE.match(str(text).strip()) if text is not None else None
    if not m:
        raise ValueError('%r is not an etcd release version of the form X.Y.Z' % (text,))
    return tuple(int(x) for x in m.groups())


def format_version(version):
    return '.'.join(str(x) for x in version)


def minor(version):
    return tuple(version[:2])


def plan_upgrade(versions, target, leader=None, auth_enabled=False):
    """Decide a rolling upgrade of the members to ``target``.

    versions: {member name: running version string, or None when the member did not report one}
    target: the wanted version string; leader: name of the current leader (upgraded last);
    auth_enabled: whether etcd authentication is on.

    Returns {action: none|patch|minor|refused, target, lowest, highest, pending: [names, leader last],
    next: name|None, v2store_check: bool, problems: [sentences]}. Problems mean: refuse and change nothing.
    """
    problems = []
    try:
        want = parse_version(target)
    except ValueError as err:
        return dict(action='refused', target=target, lowest=None, highest=None, pending=[], next=None,
                    v2store_check=False, problems=['The target version is invalid: %s.' % err])
    running = {}
    for name in sorted(versions):
        text = versions[name]
        if text in (None, ''):
            problems.append('Member %s did not report its version (is it running and healthy?): make every member '
                            'healthy before an upgrade.' % (name or '(unstarted)'))
            continue
        try:
            running[name] = parse_version(text)
        except ValueError as err:
            problems.append('Member %s reports an unexpected version: %s.' % (name, err))
    if not versions:
        problems.append('No member reported a version.')
    lowest = min(running.values()) if running else None
    highest = max(running.values()) if running else None

    newer = sorted(n for n, v in running.items() if v > want)
    if newer:
        problems.append('Refusing a downgrade: %s already run%s %s, newer than the target %s. etcd supports no '
                        'rolling downgrade this way; keep etcd_version at the running version (or follow etcd\'s '
                        'downgrade guide).' % (', '.join(newer), 's' if len(newer) == 1 else '',
                                               ', '.join(format_version(running[n]) for n in newer), target))
    action = 'none'
    if lowest is not None and not newer:
        if want[0] != lowest[0] or want[1] > lowest[1] + 1:
            problems.append('Refusing to skip a minor version: the lowest member runs %s and the target is %s. etcd '
                            'upgrades one minor version at a time: upgrade to the newest %d.%d patch first.'
                            % (format_version(lowest), target, lowest[0], lowest[1] + 1))
        elif want[1] == lowest[1] + 1:
            action = 'minor'
            floor = MINOR_UPGRADE_FLOOR.get(minor(want))
            below = sorted(n for n, v in running.items() if minor(v) == minor(lowest) and floor and v < floor)
            if below:
                problems.append('Refusing the minor upgrade to %s: %s run%s %s, below %s, the minimum patch etcd\'s '
                                'upgrade guide requires before %d.%d. Upgrade to %d.%d.%d or later (a patch upgrade) '
                                'first.' % ((target, ', '.join(below), 's' if len(below) == 1 else '',
                                             ', '.join(format_version(running[n]) for n in below),
                                             format_version(floor), want[0], want[1]) + floor))
            if auth_enabled and minor(want) in NO_ROLLING_WITH_AUTH:
                problems.append('Refusing a rolling upgrade to %d.%d with etcd authentication on: etcd does not '
                                'support it (%d.%d changed the format of the auth entries in the WAL; see etcd\'s '
                                'upgrade guide). Disable auth for the upgrade, or restore a snapshot into a new %d.%d '
                                'cluster.' % (want[0], want[1], want[0], want[1], want[0], want[1]))
        elif any(v != want for v in running.values()):
            action = 'patch'
    if problems:
        action = 'refused'
    pending = [n for n in sorted(running) if running[n] != want] if action != 'refused' else []
    if leader in pending:
        pending = [n for n in pending if n != leader] + [leader]
    return dict(action=action, target=format_version(want), lowest=format_version(lowest) if lowest else None,
                highest=format_version(highest) if highest else None, pending=pending,
                next=pending[0] if pending else None,
                v2store_check=bool(pending) and minor(want) in V2STORE_CHECK_TARGETS
                and any(minor(running[n]) < minor(want) for n in pending),
                problems=problems)


def compare_hashes(hashes):
    """hashes: {member name: {hash, revision, compact_revision} | None} taken at one revision.

    Returns a list of problems (empty when every member answered and all hashes are equal)."""
    problems = []
    missing = sorted(n for n, h in hashes.items() if not h)
    if missing:
        problems.append('No hashkv from %s.' % ', '.join(missing))
    values = dict((n, h['hash']) for n, h in hashes.items() if h)
    if len(set(values.values())) > 1:
        problems.append('The members hold different data at the same revision: %s. Stop and investigate (etcd '
                        'may raise a CORRUPT alarm); do not upgrade further.'
                        % ', '.join('%s=%s' % (n, values[n]) for n in sorted(values)))
    return problems


def hash_round(client, members, status):
    """Ask every member for the digest of its key space at one revision: the highest revision in ``status``
    ({member id: probe}), so every member must have applied it (one that has not yet answers "future revision"
    and is asked again in the next round).

    The digest is ``_keyspace.keyspace_digest`` (SHA-256 over every key at that revision, read from the member
    itself with serializable ranges), not etcd's HashKV: the JSON gateway routes ``/v3/maintenance/hash`` to Hash,
    a hash of the whole backend (membership, meta and all), which differs between healthy members. The range API
    answers the same way on 3.4, 3.5 and 3.6, so every member takes part whatever it runs. Returns
    ({name: {hash, revision, count} | None}, revision, [errors])."""
    revisions = [p.get('revision') for p in status.values() if p and p.get('revision')]
    revision = max(revisions) if revisions else 0
    out, errors = {}, []
    if not revision:
        errors.append('no member reported a revision')
    for m in members:
        out[m['name']] = None
        if not revision:
            continue
        for url in member_client_urls(m):
            try:
                digest = keyspace_digest(client, revision, endpoint=url, serializable=True)
                out[m['name']] = dict(hash=digest['sha256'], revision=digest['revision'], count=digest['count'])
                break
            except EtcdError as err:
                errors.append('%s: %s' % (m['name'] or url, err))
    return out, revision, errors


# The first release whose members can apply an AuthStatus raft entry. etcd 3.5 serves /v3/auth/status through
# raft (an InternalRaftRequest); a 3.4 member that applies that entry panics ("not implemented", apply.go), so in a
# mixed 3.4/3.5 cluster one such call to a 3.5 member stops every 3.4 member (seen on the test hosts and with bare
# 3.4.23 + 3.5.30 processes). Only ask it when every member runs at least this version.
AUTH_STATUS_MIN_VERSION = (3, 5, 0)


def auth_status_safe(versions):
    """Whether every member can apply an AuthStatus entry (``versions``: {name: version string | None}); an
    unknown or unparsable version counts as too old."""
    if not versions:
        return False
    for text in versions.values():
        try:
            if parse_version(text) < AUTH_STATUS_MIN_VERSION:
                return False
        except ValueError:
            return False
    return True


def auth_enabled(client, versions=None):
    """Whether etcd authentication is on. When every member runs 3.5 or later (``versions``, see
    ``auth_status_safe``) this is ``/v3/auth/status``. Otherwise (3.4 has no such call, and a 3.5 member in a mixed
    cluster would send it through raft to members that cannot apply it) a client with a user authenticates (an
    empty token means auth is off) and one without a user lists the users (refused with "user name is empty" only
    when auth is on); both are requests every version applies."""
    if auth_status_safe(versions):
        try:
            return client.auth_status()['enabled']
        except EtcdError as err:
            if err.kind == KIND_PERMISSION:  # only root may ask: the user exists, so auth is on
                return True
            if not all(e.status == 404 for e in (err.errors or [err])):
                raise
    if client.user:
        errors = []
        for endpoint in client.endpoints:
            try:
                return client.transport.authenticate(endpoint) != ''
            except EtcdError as err:
                if err.kind == KIND_AUTH:
                    raise
                errors.append(err)
        raise errors[-1]
    try:
        client.user_list()
    except EtcdError as err:
        if err.kind == KIND_AUTH and 'user name is empty' in (err.server_message or ''):
            return True
        raise
    return False
