# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Defragmentation rule and member ordering (pure, standard library only).

The rule, for one member (sizes in bytes, as reported by the maintenance status of that member)::

    free  = db_size - db_size_in_use
    match = free >= min_free_bytes and (
                (free_bytes_trigger > 0 and free >= free_bytes_trigger)
             or (min_free_ratio > 0 and free / db_size >= min_free_ratio)
             or (quota_usage_ratio > 0 and db_size / quota_bytes >= quota_usage_ratio))

``min_free_bytes`` is a floor: below it a defragmentation reclaims too little to be worth blocking the member
(it also makes a second run idempotent: right after a defragmentation ``free`` is close to zero).  A threshold of
``0`` disables its clause.

Order: learners first (they do not take part in quorum), then voting followers, the leader last; inside a group by
name then member id, so the plan is deterministic.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MIB = 1024 * 1024

# etcd's default backend quota (--quota-backend-bytes=0 means 2 GiB)
DEFAULT_QUOTA_BYTES = 2 * 1024 * MIB

DEFAULT_RULE = {
    'min_free_bytes': 8 * MIB,
    'free_bytes_trigger': 100 * MIB,
    'min_free_ratio': 0.5,
    'quota_usage_ratio': 0.8,
    'quota_bytes': DEFAULT_QUOTA_BYTES,
}


def normalize_rule(rule=None):
    """Merge ``rule`` over the defaults (``None`` keeps the default); raises ValueError on bad values."""
    result = dict(DEFAULT_RULE)
    for key, value in (rule or {}).items():
        if key not in DEFAULT_RULE:
            raise ValueError('unknown defrag rule option %r (expected one of %s)'
                             % (key, ', '.join(sorted(DEFAULT_RULE))))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError('defrag rule option %s must be a number, got %r' % (key, value))
        if value < 0:
            raise ValueError('defrag rule option %s must be >= 0, got %r' % (key, value))
        result[key] = value
    if not result['quota_bytes']:
        result['quota_bytes'] = DEFAULT_QUOTA_BYTES
    return result


def evaluate(db_size, db_size_in_use, rule=None):
    """Evaluate the rule for one member.

    Returns a dict: ``match`` (bool), ``reasons`` (list of the clauses that matched, or why it did not),
    ``free``, ``free_ratio``, ``quota_usage``.
    """
    rul = normalize_rule(rule)
    db_size = int(db_size or 0)
    db_size_in_use = int(db_size_in_use or 0)
    if db_size < 0 or db_size_in_use < 0:
        raise ValueError('sizes must be >= 0')
    free = max(db_size - db_size_in_use, 0)
    free_ratio = float(free) / db_size if db_size else 0.0
    quota_usage = float(db_size) / rul['quota_bytes']
    result = {
        'match': False,
        'reasons': [],
        'free': free,
        'free_ratio': round(free_ratio, 4),
        'quota_usage': round(quota_usage, 4),
    }
    if free < rul['min_free_bytes'] or free == 0:
        result['reasons'].append('free %d bytes below min_free_bytes %d' % (free, rul['min_free_bytes']))
        return result
    if rul['free_bytes_trigger'] and free >= rul['free_bytes_trigger']:
        result['reasons'].append('free %d bytes >= free_bytes_trigger %d' % (free, rul['free_bytes_trigger']))
    if rul['min_free_ratio'] and free_ratio >= rul['min_free_ratio']:
        result['reasons'].append('free ratio %.4f >= min_free_ratio %s' % (free_ratio, rul['min_free_ratio']))
    if rul['quota_usage_ratio'] and quota_usage >= rul['quota_usage_ratio']:
        result['reasons'].append('quota usage %.4f >= quota_usage_ratio %s'
                                 % (quota_usage, rul['quota_usage_ratio']))
    if result['reasons']:
        result['match'] = True
    else:
        result['reasons'].append('no threshold reached')
    return result


# room a defragmentation needs on the member's file system besides the rewritten db: the WAL keeps growing while
# the member is blocked (one preallocated 64 MiB segment)
DEFRAG_MARGIN_BYTES = 64 * MIB


def defrag_room(fs_free_bytes, db_size_in_use, margin=DEFRAG_MARGIN_BYTES):
    """Is there room for a defragmentation? etcd writes the compacted db (about ``db_size_in_use`` bytes) to a new
    file next to the old one and renames it: on a tmpfs (RAM-disk mode) a full file system in the middle of it
    fails the member. Returns ``(ok, reason)``."""
    need = int(db_size_in_use or 0) + int(margin)
    free = int(fs_free_bytes or 0)
    if free < need:
        return False, ('defragmentation refused: it needs %d bytes free on the data dir (%d in use + %d margin), '
                       'only %d are free' % (need, int(db_size_in_use or 0), int(margin), free))
    return True, 'room for the defragmentation: %d bytes free, %d needed' % (free, need)


def _role(member):
    if member.get('is_learner'):
        return 'learner'
    if member.get('is_leader'):
        return 'leader'
    return 'follower'


_ROLE_RANK = {'learner': 0, 'follower': 1, 'leader': 2}


def order_members(members):
    """Return the members (mappings with ``name``, ``member_id``, ``is_leader``, ``is_learner``) in defrag order:
    learners, followers, then the leader. Raises ValueError when more than one member claims to be leader."""
    leaders = [m for m in members if m.get('is_leader') and not m.get('is_learner')]
    if len(leaders) > 1:
        raise ValueError('more than one member reports itself as leader: %s'
                         % ', '.join(str(m.get('name') or m.get('member_id')) for m in leaders))
    return sorted(members, key=lambda m: (_ROLE_RANK[_role(m)], str(m.get('name') or ''), str(m.get('member_id') or '')))


def plan(members, rule=None, force=False):
    """Plan a defragmentation.

    ``members``: mappings with ``name``, ``member_id``, ``is_leader``, ``is_learner``, ``db_size``,
    ``db_size_in_use``.  Returns the ordered list of dicts (``name``, ``member_id``, ``role``, ``defrag``,
    ``reasons``, ``db_size``, ``db_size_in_use``, ``free``); ``defrag`` is True when the member matches the rule
    (or ``force``).
    """
    rul = normalize_rule(rule)
    out = []
    for member in order_members(members):
        ev = evaluate(member.get('db_size'), member.get('db_size_in_use'), rul)
        entry = {
            'name': member.get('name'),
            'member_id': member.get('member_id'),
            'role': _role(member),
            'db_size': int(member.get('db_size') or 0),
            'db_size_in_use': int(member.get('db_size_in_use') or 0),
            'free': ev['free'],
            'free_ratio': ev['free_ratio'],
            'quota_usage': ev['quota_usage'],
            'defrag': bool(force or ev['match']),
            'reasons': (['force'] if force else []) + ev['reasons'],
        }
        out.append(entry)
    return out
