# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Pure decisions of the RAM-disk helper (no I/O; unit-tested on tables of cases in tests/unit/ramdisk)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import match_member

USE_TMPFS = "use-tmpfs"
COPY_IN = "copy-in"
FRESH = "fresh"
REJOIN = "rejoin"
RESTORE = "restore-snapshot"
REFUSE = "refuse"

# membership verdicts (membership_verdict)
LISTED = "listed"
REPLACED = "replaced"
REMOVED = "removed"
UNKNOWN = "unknown"

DR_HINT = "Recover with the disaster-recovery playbook: ansible-playbook playbooks/restore.yml (docs/ramdisk.md)."


def decide_prestart(state):
    """Return (action, reason) for the prestart ``state`` (a dict of booleans/ints):

    is_tmpfs, tmpfs_has_data, clean_mark_valid, copy_exists, bootstrapped, cluster_size, quorum_elsewhere,
    snapshot_available; optional ``removed`` / ``replaced`` (``membership_verdict`` of the reachable quorum).
    """
    if not state.get("is_tmpfs", True):
        return REFUSE, "the data dir is not a tmpfs mount; refusing to run etcd on the disk below the mount point"
    if state["tmpfs_has_data"]:
        return USE_TMPFS, "the tmpfs holds this member's data (service restart without a reboot)"
    if state.get("removed"):
        return REFUSE, ("this member was removed from the cluster (its recorded member id is no longer listed and "
                        "no member has its peer URLs): staying out. Retire this host with playbooks/remove_member.yml "
                        "(disables the unit, retires the disk copy), or add it back as a new member with "
                        "playbooks/site.yml (docs/ramdisk.md)")
    if state["clean_mark_valid"] and state["copy_exists"] and not state.get("replaced"):
        return COPY_IN, "empty tmpfs and a disk copy saved after a clean stop: copying it in (lossless)"
    if not state["bootstrapped"] and not state["copy_exists"]:
        return FRESH, "first start of this member: etcd bootstraps or joins from its own configuration"
    # Empty tmpfs and no valid clean mark: a crash or power loss. The disk copy (if any) is stale and must never
    # be started on: it would replay a raft log older than what this member already acknowledged.
    if state["cluster_size"] > 1:
        if state["quorum_elsewhere"]:
            return REJOIN, ("crash detected (empty tmpfs, no clean mark); a quorum is reachable: re-adding this "
                            "member as a learner with an empty data dir")
        return REFUSE, ("crash detected (empty tmpfs, no clean mark) and no quorum is reachable among the other "
                        "members; refusing to start on stale data. " + DR_HINT)
    if state["snapshot_available"]:
        return RESTORE, ("crash detected (empty tmpfs, no clean mark) in a single-member cluster: restoring the "
                         "newest verified snapshot")
    return REFUSE, ("crash detected (empty tmpfs, no clean mark) in a single-member cluster and no verified "
                    "snapshot exists; refusing to start on stale data. " + DR_HINT)


def decide_save(new, old):
    """Return (ok, reason) for saving tmpfs data ``new`` over the disk copy ``old`` (WAL summaries or None)."""
    if new is None:
        return False, "no WAL in the data dir: nothing to save"
    if old is None:
        return True, "no previous disk copy"
    if new.get("member_id") != old.get("member_id") or new.get("cluster_id") != old.get("cluster_id"):
        return True, "the disk copy belongs to another incarnation of this member (%s/%s); replacing it" % (
            old.get("cluster_id"), old.get("member_id"))
    if new["term"] < old["term"] or new["commit"] < old["commit"]:
        return False, ("refusing to replace the disk copy (term %d, commit %d) with OLDER data (term %d, commit %d)"
                       % (old["term"], old["commit"], new["term"], new["commit"]))
    return True, "the data is at least as new as the disk copy"


def _id(value):
    try:
        return int(value, 16) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        return None


def membership_verdict(known_ids, members, peer_urls, removing_ids=()):
    """Is this member still in the cluster? Returns ``(verdict, member or None)``.

    ``known_ids``: the member ids this host's data had (hex strings: state, disk copy, clean mark); ``members``:
    the core's member list from a reachable quorum; ``removing_ids``: ids this helper removed itself in a rejoin
    that has not re-added the member yet. etcd never removes a member on its own, so an id that is gone, that this
    helper did not remove, and whose peer URLs no member has, was removed deliberately: REMOVED (stay out).
    REPLACED: the id is gone but a member with this host's peer URLs exists (added back by the operator): the old
    data belongs to a removed member and is not started on. LISTED: the id is listed (a crash or a clean stop) or
    this helper is half-way through its own rejoin. UNKNOWN: no identity recorded or no member list.
    """
    known = set(i for i in (_id(k) for k in known_ids or []) if i is not None)
    if not members or not known:
        return UNKNOWN, None
    for mem in members:
        if mem.get("id") in known:
            return LISTED, mem
    found, conflict = match_member(members, None, peer_urls)
    if found is not None or conflict:
        return REPLACED, found
    removing = set(i for i in (_id(k) for k in removing_ids or []) if i is not None)
    if known <= removing:
        return LISTED, None
    return REMOVED, None
