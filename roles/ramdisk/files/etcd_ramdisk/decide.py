# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Pure decisions of the RAM-disk helper (no I/O; unit-tested on tables of cases in tests/unit/ramdisk)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

USE_TMPFS = "use-tmpfs"
COPY_IN = "copy-in"
FRESH = "fresh"
REJOIN = "rejoin"
RESTORE = "restore-snapshot"
REFUSE = "refuse"

DR_HINT = "Recover with the disaster-recovery playbook: ansible-playbook playbooks/restore.yml (docs/ramdisk.md)."


def decide_prestart(state):
    """Return (action, reason) for the prestart ``state`` (a dict of booleans/ints):

    is_tmpfs, tmpfs_has_data, clean_mark_valid, copy_exists, bootstrapped, cluster_size, quorum_elsewhere,
    snapshot_available.
    """
    if not state.get("is_tmpfs", True):
        return REFUSE, "the data dir is not a tmpfs mount; refusing to run etcd on the disk below the mount point"
    if state["tmpfs_has_data"]:
        return USE_TMPFS, "the tmpfs holds this member's data (service restart without a reboot)"
    if state["clean_mark_valid"] and state["copy_exists"]:
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
