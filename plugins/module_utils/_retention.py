# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Snapshot retention planner (pure, standard library only).

Rules (all times are UTC; ``now`` is given explicitly so the result is deterministic):

* Only *verified* snapshots count as kept copies.  Unverified entries (``.part`` leftovers, files without a
  valid sidecar or checksum) never fill a slot.  They are pruned when they are older than the newest verified
  snapshot; a newer one may be a snapshot still being written and is left alone (kept, reason ``unverified``).
* ``keep_last``: the newest N verified snapshots.
* ``keep_daily``: for each of the last D calendar days (today included), the newest verified snapshot of that day.
* ``keep_weekly``: the same over the last W ISO weeks (current week included; weeks start on Monday).
* ``keep_monthly``: the same over the last M calendar months (current month included).
* The newest verified snapshot is never pruned, whatever the policy (even all zeros).
* A verified snapshot dated after ``now`` (clock skew) is never pruned either.
* The verified snapshot with the highest ``revision`` (when the entries carry one) is never pruned: after the clock
  stepped back (boards without a battery-backed clock) the newest data may carry the oldest date.

Snapshots are ordered newest first by (time, name) so ties are broken deterministically.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

DEFAULT_POLICY = {
    'keep_last': 10,
    'keep_daily': 31,
    'keep_weekly': 0,
    'keep_monthly': 0,
}

_UTC = datetime.timezone.utc


def to_utc(value):
    """Return an aware UTC datetime from a datetime (naive means UTC) or a POSIX timestamp."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=_UTC)
        return value.astimezone(_UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, tz=_UTC)
    raise TypeError('snapshot time must be a datetime or a POSIX timestamp, got %r' % (value,))


def normalize_policy(policy=None):
    """Merge ``policy`` over the defaults; ``None`` values take the default. Raises ValueError on bad values."""
    result = dict(DEFAULT_POLICY)
    for key, value in (policy or {}).items():
        if key not in DEFAULT_POLICY:
            raise ValueError('unknown retention option %r (expected one of %s)'
                             % (key, ', '.join(sorted(DEFAULT_POLICY))))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError('retention option %s must be an integer, got %r' % (key, value))
        if value < 0:
            raise ValueError('retention option %s must be >= 0, got %d' % (key, value))
        result[key] = value
    return result


def _month_index(date):
    return date.year * 12 + (date.month - 1)


def plan_retention(snapshots, policy=None, now=None):
    """Decide which snapshots to keep and which to prune.

    ``snapshots``: iterable of mappings with ``name`` (unique), ``time`` (datetime or POSIX timestamp) and
    ``verified`` (bool, default False).  ``policy``: mapping with keep_last/keep_daily/keep_weekly/keep_monthly.
    ``now``: datetime (required for reproducible results; defaults to the current UTC time).

    Returns ``{'keep': [{'name', 'time', 'verified', 'reasons': [...]}], 'prune': [{'name', 'time', 'verified',
    'reason'}]}``, both lists newest first.
    """
    pol = normalize_policy(policy)
    now = to_utc(now if now is not None else datetime.datetime.now(_UTC))
    today = now.date()

    items = []
    seen = set()
    for snap in snapshots:
        name = snap['name']
        if name in seen:
            raise ValueError('duplicate snapshot name %r' % (name,))
        seen.add(name)
        items.append({'name': name, 'time': to_utc(snap['time']), 'verified': bool(snap.get('verified', False)),
                      'revision': snap.get('revision')})
    items.sort(key=lambda s: (s['time'], s['name']), reverse=True)

    verified = [s for s in items if s['verified']]
    reasons = dict((s['name'], []) for s in items)

    # newest N
    for snap in verified[:pol['keep_last']]:
        reasons[snap['name']].append('last')

    # calendar buckets: newest verified snapshot in each bucket within the window
    day_start = today - datetime.timedelta(days=pol['keep_daily'] - 1) if pol['keep_daily'] else None
    this_monday = today - datetime.timedelta(days=today.weekday())
    week_start = this_monday - datetime.timedelta(weeks=pol['keep_weekly'] - 1) if pol['keep_weekly'] else None
    month_start = _month_index(today) - (pol['keep_monthly'] - 1) if pol['keep_monthly'] else None
    taken = {'daily': set(), 'weekly': set(), 'monthly': set()}
    for snap in verified:
        date = snap['time'].date()
        if date > today:
            reasons[snap['name']].append('future')
            continue
        if day_start is not None and date >= day_start and date not in taken['daily']:
            taken['daily'].add(date)
            reasons[snap['name']].append('daily %s' % date.isoformat())
        monday = date - datetime.timedelta(days=date.weekday())
        if week_start is not None and monday >= week_start and monday not in taken['weekly']:
            taken['weekly'].add(monday)
            iso = date.isocalendar()
            reasons[snap['name']].append('weekly %04d-W%02d' % (iso[0], iso[1]))
        month = _month_index(date)
        if month_start is not None and month >= month_start and month not in taken['monthly']:
            taken['monthly'].add(month)
            reasons[snap['name']].append('monthly %04d-%02d' % (date.year, date.month))

    # the newest verified snapshot: the highest revision when revisions are known (a clock that stepped back dates
    # the newest data before older snapshots), else the newest by time
    with_revision = [s for s in verified if isinstance(s['revision'], int) and not isinstance(s['revision'], bool)]
    if with_revision:
        newest = max(with_revision, key=lambda s: (s['revision'], s['time'], s['name']))
        if not reasons[newest['name']]:
            reasons[newest['name']].append('highest revision')
    elif verified and not reasons[verified[0]['name']]:
        reasons[verified[0]['name']].append('newest verified')

    newest_verified_time = verified[0]['time'] if verified else None
    keep, prune = [], []
    for snap in items:
        entry = dict(snap)
        if entry['revision'] is None:
            del entry['revision']
        if snap['verified']:
            if reasons[snap['name']]:
                entry['reasons'] = reasons[snap['name']]
                keep.append(entry)
            else:
                entry['reason'] = 'outside retention policy'
                prune.append(entry)
        elif newest_verified_time is not None and snap['time'] < newest_verified_time:
            entry['reason'] = 'unverified, older than the newest verified snapshot'
            prune.append(entry)
        else:
            entry['reasons'] = ['unverified (not counted)']
            keep.append(entry)
    return {'keep': keep, 'prune': prune}


def policy_from_ramdisk(retention=None):
    """The RAM-disk helper's old policy (``{'keep_last': N, 'keep_daily': D}``, defaults 10 and 7: the N newest
    plus the newest of each of the last D UTC days) expressed in this policy. Its "keep at least one" rule is
    this policy's "the newest verified snapshot is never pruned"."""
    retention = retention or {}
    return normalize_policy(dict(keep_last=int(retention.get('keep_last', 10)),
                                 keep_daily=int(retention.get('keep_daily', 7)), keep_weekly=0, keep_monthly=0))
