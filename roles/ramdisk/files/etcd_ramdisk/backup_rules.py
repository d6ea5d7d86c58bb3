# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Pure decisions of the backup, restore-drill and off-site copy verbs (unit-tested on tables in
tests/unit/ramdisk/test_backup_rules.py): when to take a backup, what the drill's checks conclude, which files an
off-site pull fetches, the schedule's interval, and the node_exporter textfile metrics (the contract of
/work/coord/plan.md: names and labels ``cluster`` and ``member`` exactly)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import re

TAKE = "take"
SKIP = "skip"

KEYSPACE_EQUAL = "equal"
KEYSPACE_MISMATCH = "mismatch"
KEYSPACE_COMPACTED = "not comparable: compacted"
KEYSPACE_UNAVAILABLE = "not comparable: live cluster unreachable"
KEYSPACE_FOREIGN = "not comparable: another cluster id (the backup predates a disaster recovery)"

BACKUP_METRICS = (
    ("etcdkit_backup_last_success_timestamp_seconds",
     "Time of the last backup run that left a verified snapshot of the current revision in the store (0: never)."),
    ("etcdkit_backup_last_attempt_timestamp_seconds", "Time of the last backup run, successful or not."),
    ("etcdkit_backup_last_revision", "etcd revision of the newest verified backup."),
    ("etcdkit_backup_last_size_bytes", "Size in bytes of the newest verified backup."),
    ("etcdkit_backup_interval_seconds", "Interval of the backup timer's schedule."),
)
DRILL_METRICS = (
    ("etcdkit_restore_drill_last_success_timestamp_seconds",
     "Time of the last restore drill that passed: the backup was proven restorable (0: never)."),
    ("etcdkit_restore_drill_last_attempt_timestamp_seconds", "Time of the last restore drill, passed or not."),
    ("etcdkit_restore_drill_last_ok", "1 if the last restore drill passed, 0 if it failed."),
    ("etcdkit_restore_drill_last_revision", "Revision of the backup the last passing drill restored."),
    ("etcdkit_restore_drill_interval_seconds", "Interval of the restore drill timer's schedule."),
)


# ------------------------------------------------------------------------------------------------ backup

def backup_decision(current_revision, newest_revision, force=False):
    """``(TAKE|SKIP, reason)``: skip when the newest verified backup already holds the current revision (the
    revision has not moved), unless ``force``."""
    if newest_revision is None:
        return TAKE, "no verified backup in the store yet"
    if force:
        return TAKE, "a backup was asked for now"
    if current_revision is None:
        return TAKE, "the current revision is unknown"
    if int(newest_revision) >= int(current_revision):
        return SKIP, "the revision has not moved since the newest backup (revision %d)" % int(newest_revision)
    return TAKE, "the revision moved from %d to %d" % (int(newest_revision), int(current_revision))


# ------------------------------------------------------------------------------------------------- drill

def drill_verdict(sidecar, restored, live):
    """Judge a restore drill.

    ``sidecar``: the backup's schema-1 sidecar (``revision``, optional ``db_revision`` and ``key_count``).
    ``restored``: ``{'revision', 'key_count', 'digest'}`` read from the temporary etcd (digest: keyspace digest
    at the snapshot's revision). ``live``: ``{'digest'}`` or ``{'compacted': True}`` or ``{'error': text}``.

    Returns ``{'ok', 'problems': [...], 'checks': {name: text}, 'keyspace'}``. The revision must equal the
    sidecar's ``db_revision`` (the revision etcdutl read from the file, recorded by the backup verb); a sidecar of
    another writer (etcd_snapshot, the RAM-disk helper) records the revision read right before the stream, and the
    restored one must be at least that. The key count must
    equal the recorded one; the key space must equal the live cluster's at that revision, unless that revision
    is compacted there or the cluster cannot be asked (then it is reported as not comparable, not as failed)."""
    problems = []
    checks = {}
    expected_rev = sidecar.get("db_revision")
    at_least = expected_rev is None  # other writers record the revision read right before the stream
    if at_least:
        expected_rev = sidecar.get("revision")
    got_rev = restored.get("revision")
    if expected_rev is None:
        problems.append("the sidecar records no revision")
        checks["revision"] = "not recorded"
    elif at_least and got_rev is not None and got_rev >= int(expected_rev):
        checks["revision"] = "%s, at least the sidecar's %s (read before the stream)" % (got_rev, expected_rev)
    elif got_rev != int(expected_rev):
        problems.append("the restored revision %s differs from the sidecar's %s" % (got_rev, expected_rev))
        checks["revision"] = "mismatch: %s != %s" % (got_rev, expected_rev)
    else:
        checks["revision"] = "equal (%s)" % got_rev
    expected_keys = sidecar.get("key_count")
    if expected_keys is None:
        checks["key_count"] = "not recorded (%s keys restored)" % restored.get("key_count")
    elif restored.get("key_count") != int(expected_keys):
        problems.append("the restored key count %s differs from the sidecar's %s" % (
            restored.get("key_count"), expected_keys))
        checks["key_count"] = "mismatch: %s != %s" % (restored.get("key_count"), expected_keys)
    else:
        checks["key_count"] = "equal (%s)" % expected_keys
    if live.get("foreign"):
        keyspace = KEYSPACE_FOREIGN
    elif live.get("compacted"):
        keyspace = KEYSPACE_COMPACTED
    elif live.get("error") or not live.get("digest"):
        keyspace = KEYSPACE_UNAVAILABLE
    elif restored.get("digest") and live["digest"]["sha256"] == restored["digest"]["sha256"] \
            and live["digest"]["count"] == restored["digest"]["count"]:
        keyspace = KEYSPACE_EQUAL
    else:
        keyspace = KEYSPACE_MISMATCH
        problems.append("the restored key space at revision %s differs from the live cluster's (%s keys, sha256 "
                        "%s; live: %s keys, sha256 %s)" % (
                            (restored.get("digest") or {}).get("revision"),
                            (restored.get("digest") or {}).get("count"),
                            (restored.get("digest") or {}).get("sha256"),
                            live["digest"]["count"], live["digest"]["sha256"]))
    checks["keyspace"] = keyspace
    return dict(ok=not problems, problems=problems, checks=checks, keyspace=keyspace)


# ---------------------------------------------------------------------------------------- off-site pull

def offsite_selection(remote_names, local_names, pattern_prefix="snapshot"):
    """Which remote files an off-site pull fetches: snapshot/sidecar pairs (``<prefix>-<time>-r<rev>.db`` and
    ``.db.json``) that are complete on the remote side and newer (by name: time, then revision) than the newest
    snapshot already held here, so a file the off-site retention pruned is never fetched again. Returns the
    sorted list of file names (each .db followed by its .db.json)."""
    pat = re.compile(r"^%s-(\d{8}T\d{6}Z)-r(\d+)\.db$" % re.escape(pattern_prefix))
    remote = set(remote_names)
    local_keys = [(m.group(1), int(m.group(2))) for m in (pat.match(n) for n in local_names) if m]
    newest = max(local_keys) if local_keys else None
    out = []
    for name in sorted(remote):
        match = pat.match(name)
        if not match or name + ".json" not in remote:
            continue
        if newest is not None and (match.group(1), int(match.group(2))) <= newest:
            continue
        out.extend([name, name + ".json"])
    return out


def parse_rsync_list(text):
    """File names of ``rsync --list-only`` output (regular files only, no directories)."""
    names = []
    for line in (text or "").splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5 and parts[0].startswith("-"):
            names.append(parts[4])
    return names


# ------------------------------------------------------------------------------------------- schedules

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")


def calendar_interval(text):
    """Seconds between the first two elapses printed by ``systemd-analyze calendar --iterations=2`` (run with
    TZ=UTC), or None."""
    stamps = []
    for line in (text or "").splitlines():
        if "Next elapse:" in line or "Iter. #" in line:
            match = _STAMP.search(line)
            if match:
                stamps.append(datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
    if len(stamps) < 2:
        return None
    seconds = (stamps[1] - stamps[0]).total_seconds()
    return int(seconds) if seconds > 0 else None


# --------------------------------------------------------------------------------------------- metrics

def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    if value is None:
        return "0"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(round(value, 3))
    return str(int(value))


def render_metrics(spec, values, cluster, member):
    """node_exporter textfile text: HELP/TYPE and one gauge per metric of ``spec`` with the labels ``cluster``
    and ``member``; a value that is None is written as 0 (never happened)."""
    labels = '{cluster="%s",member="%s"}' % (_label(cluster), _label(member))
    lines = []
    for name, help_text in spec:
        lines.append("# HELP %s %s" % (name, help_text))
        lines.append("# TYPE %s gauge" % name)
        lines.append("%s%s %s" % (name, labels, _number(values.get(name))))
    return "\n".join(lines) + "\n"


def backup_metric_values(state, interval):
    return {
        "etcdkit_backup_last_success_timestamp_seconds": state.get("last_success_ts"),
        "etcdkit_backup_last_attempt_timestamp_seconds": state.get("last_attempt_ts"),
        "etcdkit_backup_last_revision": state.get("last_revision"),
        "etcdkit_backup_last_size_bytes": state.get("last_size"),
        "etcdkit_backup_interval_seconds": interval,
    }


def drill_metric_values(state, interval):
    return {
        "etcdkit_restore_drill_last_success_timestamp_seconds": state.get("last_success_ts"),
        "etcdkit_restore_drill_last_attempt_timestamp_seconds": state.get("last_attempt_ts"),
        "etcdkit_restore_drill_last_ok": bool(state.get("last_ok")),
        "etcdkit_restore_drill_last_revision": state.get("last_success_revision"),
        "etcdkit_restore_drill_interval_seconds": interval,
    }


def metrics_file_name(cluster, concern):
    """``etcdkit_<cluster>_<concern>.prom`` (the cluster name as it is: letters, digits, '_', '-', '.')."""
    return "etcdkit_%s_%s.prom" % (cluster, concern)
