# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""etcd-ramdisk: keep an etcd member's data dir on a tmpfs without losing acknowledged writes.

One JSON config per wrapped systemd unit (``--config /etc/etcdkit/ramdisk/<unit>.json``, 0600). Verbs:

  prestart   ExecStartPre of the wrapped unit (runs as root, fail closed). Decides how the member starts:
             data in tmpfs -> use it; empty tmpfs + clean mark -> copy the disk copy in and consume the mark;
             empty tmpfs without a clean mark (crash) -> rejoin as a learner if a quorum is reachable elsewhere,
             restore the newest verified snapshot if this is a single-member cluster, otherwise refuse.
  poststop   ExecStopPost: once the member really stopped, save the data dir to the disk copy atomically and write
             the clean mark. Never replaces a newer copy with an older one.
  snapshot   Timer job: consistent snapshot over the API, verified, atomically renamed, retention applied.
  adopt      Move an existing on-disk data dir (unit stopped) into the disk copy before the tmpfs is mounted.
  promote    Promote this member if it is a caught-up learner (also done by ``snapshot``).
  watermark  Record the current revision on disk (timer), so a snapshot restore can report what was lost.
  dr-choose  Disaster recovery: choose the restore source among the candidates of every member (JSON on stdin).
  dr-restore Disaster recovery: restore a snapshot into the (empty) tmpfs for a new cluster (playbooks/restore.yml).
  status     Print the helper's view of this member (JSON).

The decisions are the pure functions of ``etcd_ramdisk.decide`` (unit-tested in tests/unit/ramdisk); every etcd
operation is the collection's core (``ansible_collections.etcdkit.etcd.plugins.module_utils``).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import argparse
import fcntl
import json
import os
import shutil
import sys

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import choose_restore_source
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import iso_utc, read_json, write_json_atomic
from ansible_collections.etcdkit.etcd.plugins.module_utils._snapstore import SnapshotFileError, verify_file
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id

from . import backup, decide, diskcopy, member
from .node import Fail, Node, now_iso


def cmd_prestart(node, args):  # pylint: disable=unused-argument
    state = node.load_state()
    os.makedirs(node.state_dir, mode=0o700, exist_ok=True)
    is_tmpfs = node.is_tmpfs() if node.cfg.get("require_tmpfs", True) else True
    if node.joining():
        node.log("an interrupted rejoin left partial data in the tmpfs; discarding it", {"event": "join-interrupted"})
        node.clear_data_dir()
    for name in os.listdir(node.data_dir):
        if name.startswith(".ramdisk-"):
            shutil.rmtree(os.path.join(node.data_dir, name), ignore_errors=True)
    has_data = node.has_data()
    mark = None if has_data else node.clean_mark()
    facts = {
        "is_tmpfs": is_tmpfs,
        "tmpfs_has_data": has_data,
        "clean_mark_valid": mark is not None,
        "copy_exists": node.current_copy() is not None,
        "bootstrapped": bool(state.get("bootstrapped")),
        "cluster_size": node.cluster_size(state),
        "quorum_elsewhere": False,
        "snapshot_available": False,
    }
    source = loss = None
    if is_tmpfs and not has_data and mark is None and (facts["bootstrapped"] or facts["copy_exists"]):
        if facts["cluster_size"] > 1:
            facts["quorum_elsewhere"] = bool(member.healthy(node, node.other_endpoints(state)))
        else:
            source, loss = member.restore_source(node, state)
            facts["snapshot_available"] = source is not None
    action, reason = decide.decide_prestart(facts)
    node.log("prestart: %s: %s" % (action, reason), {"event": "prestart", "action": action, "state": facts})
    if action == decide.REFUSE:
        raise Fail(reason)
    if action == decide.USE_TMPFS:
        node.consume_mark()
    elif action == decide.COPY_IN:
        diskcopy.copy_in(node, mark)
    elif action == decide.REJOIN:
        member.rejoin(node, state)
    elif action == decide.RESTORE:
        restore_single(node, state, source, loss)
    state = node.load_state()
    state["bootstrapped"] = True
    state["last_start"] = {"time": now_iso(), "action": action}
    node.save_state(state)
    return 0


def restore_single(node, state, source, loss):
    """Crash of a single-member cluster: restore the chosen verified snapshot (same name, peer URLs and token, so
    the same member and cluster ids) and report the loss."""
    node.retire_copy("crash: single-member cluster restored from a snapshot")
    node.clear_data_dir()
    initial = ",".join("%s=%s" % (node.member["name"], u) for u in node.member["peer_urls"])
    member.restore_into_tmpfs(node, source["path"], initial, node.member["initial_cluster_token"])
    node.restore_extras(node.stale_copy())
    node.chown_tree(node.data_dir)
    known = state.get("last_known") or {}
    report = {
        "event": "restored-from-snapshot",
        "snapshot": source["path"],
        "snapshot_revision": source["revision"],
        "snapshot_time": iso_utc(source["created"]),
        "last_known_revision": known.get("revision"),
        "last_known_time": known.get("time"),
        "last_known_source": known.get("source"),
        "revision_gap": loss,
    }
    write_json_atomic(node.path("last-restore.json"), report)
    node.log("DATA LOSS: restored snapshot %s (revision %s, taken %s). Last known revision %s (%s at %s): %s "
             "revisions known lost, plus any writes after %s (bounded by the snapshot interval)." % (
                 source["path"], source["revision"], report["snapshot_time"], known.get("revision"),
                 known.get("source"), known.get("time"), "unknown" if loss is None else loss,
                 known.get("time") or report["snapshot_time"]), report)


def cmd_poststop(node, args):  # pylint: disable=unused-argument
    return diskcopy.save(node, "poststop (service result %s)" % (os.environ.get("SERVICE_RESULT") or "unknown"))


def cmd_adopt(node, args):  # pylint: disable=unused-argument
    """Before the tmpfs is first mounted: save the on-disk data dir (unit stopped) and empty it."""
    if node.is_tmpfs():
        node.log("adopt: %s is already a tmpfs; nothing to adopt" % node.data_dir)
        return 0
    if member.unit_active(node):
        raise Fail("adopt: %s is running; stop it first" % node.unit)
    if node.has_data():
        mark = read_json(node.path("clean.json"))
        if not (mark and mark.get("wal") == node.wal() and node.clean_mark()):
            diskcopy.save(node, "adopt")
    node.clear_data_dir()
    node.log("adopt: %s emptied; its data is in the disk copy with a clean mark" % node.data_dir,
             {"event": "adopted"})
    return 0


def cmd_snapshot(node, args):  # pylint: disable=unused-argument
    state = node.load_state()
    if not member.unit_active(node):
        node.log("snapshot: %s is not running; skipped" % node.unit)
        return 0
    member.try_promote(node, state)
    if backup.defers_ramdisk_snapshots(node.unit):
        # one mechanism: the etcd_backup timer snapshots this unit into this helper's store (backup.py)
        node.log("snapshot: taken by the backup timer of %s (etcdkit-backup-%s.timer); skipped here" % (
            node.unit, backup.unit_id(node.unit)))
        backup.ramdisk_bookkeeping(node, state, member.client(node, node.own_client_urls()[:1]))
        return 0
    member.take_snapshot(node, state)
    return 0


def cmd_promote(node, args):  # pylint: disable=unused-argument
    member.try_promote(node, node.load_state())
    return 0


def cmd_dr_choose(node, args):  # pylint: disable=unused-argument
    """Read ``{"cluster_id": hex or null, "candidates": [...]}`` on stdin (every member's snapshots and clean
    disk copies, as ``status`` prints them, plus ``host``/``kind``), print the core's choice as JSON."""
    data = json.load(sys.stdin)
    choice = choose_restore_source(data.get("candidates") or [], cluster_id=data.get("cluster_id") or None)
    print(json.dumps(choice, indent=2, sort_keys=True, default=str))
    return 0 if choice["source"] else 1


def cmd_dr_restore(node, args):
    if node.cfg.get("require_tmpfs", True) and not node.is_tmpfs():
        raise Fail("dr-restore: %s is not a tmpfs mount" % node.data_dir)
    if member.unit_active(node):
        raise Fail("dr-restore: stop %s on every member first" % node.unit)
    try:
        checked = verify_file(args.snapshot, check_trailer=not args.skip_hash_check, use_sidecar=False)
    except SnapshotFileError as exc:
        raise Fail("dr-restore: %s" % exc)
    if args.expect_sha256 and checked["sha256"] != args.expect_sha256:
        raise Fail("dr-restore: %s does not have the expected sha256" % args.snapshot)
    node.retire_copy("disaster recovery from %s" % args.snapshot)
    node.clear_data_dir()
    member.restore_into_tmpfs(node, args.snapshot, args.initial_cluster,
                              args.token or node.member["initial_cluster_token"], args.skip_hash_check)
    node.restore_extras(node.stale_copy())
    revision = diskcopy.db_revision(node, args.snapshot)
    state = node.load_state()
    state["bootstrapped"] = True
    node.save_state(state)
    node.log("dr-restore: restored %s (revision %s) for initial cluster %s" % (
        args.snapshot, revision, args.initial_cluster),
        {"event": "dr-restore", "snapshot": args.snapshot, "revision": revision})
    return 0


def cmd_watermark(node, args):  # pylint: disable=unused-argument
    """Record the member's current revision on disk: after a crash of a single-member cluster, the restore reports
    the revisions known lost between the snapshot and this watermark."""
    if not member.unit_active(node):
        return 0
    revision = member.current_revision(node)
    state = node.load_state()
    node.note_revision(state, revision, "watermark")
    node.save_state(state)
    return 0


def status(node):
    """The helper's view of this member; ``candidates`` are its restore sources for the DR playbook."""
    cur = node.current_copy()
    meta = node.copy_meta()
    state = node.load_state()
    candidates = [dict(kind="snapshot", name=e["name"], path=e["path"], revision=e["revision"],
                       verified=e["verified"], cluster_id=e["cluster_id"], time=iso_utc(e["created"]))
                  for e in member.snapshots(node)]
    if cur and meta and meta.get("revision") is not None:
        cluster = (meta.get("wal") or {}).get("cluster_id")
        candidates.append(dict(kind="copy", name=os.path.basename(cur), revision=meta["revision"], verified=True,
                               path=os.path.join(cur, "member", "snap", "db"), time=meta.get("time"),
                               cluster_id=format_id(int(cluster, 16)) if cluster else None))
    return {
        "unit": node.unit,
        "data_dir": node.data_dir,
        "is_tmpfs": node.is_tmpfs(),
        "tmpfs_has_data": node.has_data(),
        "tmpfs_wal": node.wal(),
        "copy": meta,
        "member": node.member,
        "clean_mark": read_json(node.path("clean.json")),
        "state": state,
        "candidates": candidates,
        "last_restore": read_json(node.path("last-restore.json")),
    }


def cmd_status(node, args):  # pylint: disable=unused-argument
    print(json.dumps(status(node), indent=2, sort_keys=True))
    return 0


VERBS = {
    "prestart": cmd_prestart, "poststop": cmd_poststop, "snapshot": cmd_snapshot, "adopt": cmd_adopt,
    "promote": cmd_promote, "dr-choose": cmd_dr_choose, "dr-restore": cmd_dr_restore, "status": cmd_status,
    "watermark": cmd_watermark,
}


def parser():
    top = argparse.ArgumentParser(prog="etcd-ramdisk", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--config", required=True, help="JSON config of the wrapped unit")
    sub = top.add_subparsers(dest="verb", required=True)
    for verb in backup.VERBS:  # the etcd_backup role's verbs: they take its config (backup.py)
        backup.add_arguments(sub.add_parser(verb), verb)
    for verb in VERBS:
        sub_parser = sub.add_parser(verb)
        if verb == "dr-restore":
            sub_parser.add_argument("--snapshot", required=True)
            sub_parser.add_argument("--initial-cluster", required=True)
            sub_parser.add_argument("--token", default="")
            sub_parser.add_argument("--skip-hash-check", action="store_true",
                                    help="the source is a saved data dir db (no sha256 trailer), not an API snapshot")
            sub_parser.add_argument("--expect-sha256", default="")
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    with open(args.config) as handle:
        cfg = json.load(handle)
    if args.verb in backup.VERBS:
        return backup.run(args.verb, cfg, args)
    node = Node(cfg)
    os.makedirs(node.state_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(node.state_dir, ".lock"), "w") as lock:
        if args.verb not in ("status", "dr-choose"):
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return VERBS[args.verb](node, args)
        except (Fail, CoreError) as exc:
            node.log("FAILED %s: %s" % (args.verb, exc), {"event": "failed", "verb": args.verb})
            return 1
