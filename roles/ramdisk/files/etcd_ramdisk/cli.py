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
  watermark  Record the current revision and member list on disk (timer), so a snapshot restore can report what
             was lost and a crash counts the members the cluster has now.
  refresh    The same on demand (the etcd role runs it on the running members right after it adds a member).
  dr-choose  Disaster recovery: choose the restore source among the candidates of every member (JSON on stdin).
  dr-restore Disaster recovery: restore a snapshot into the (empty) tmpfs for a new cluster (playbooks/restore.yml).
  defrag-check  Is there room on the tmpfs for a defragmentation of this member? (exit 1: refused)
  retire     After a deliberate removal (unit stopped): move the disk copy aside, empty the tmpfs, forget the member.
  status     Print the helper's view of this member (JSON).
  cert-textfile  The certificate-expiry textfile of one cluster (the monitoring role's config; certs.py).

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
from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag_rules import defrag_room
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import iso_utc, read_json, write_json_atomic
from ansible_collections.etcdkit.etcd.plugins.module_utils._snapstore import SnapshotFileError, verify_file

from . import backup, certs, decide, diskcopy, member
from .node import Fail, Node, now_iso


def cmd_prestart(node, args):  # pylint: disable=unused-argument
    state = node.load_state()
    os.makedirs(node.state_dir, mode=0o700, exist_ok=True)
    is_tmpfs = node.is_tmpfs() if node.cfg.get("require_tmpfs", True) else True
    if node.joining():
        promoted = state.pop("rejoin_promoted", None)
        wal = node.wal()
        if promoted and wal and int(wal["member_id"], 16) == int(promoted, 16):
            # interrupted after the promotion: the tmpfs holds the promoted member's data; keep it (removing the
            # member just promoted to rejoin all over again would cost a full resync and a membership change)
            node.log("a rejoin was interrupted after member %s was promoted; starting on its data" % promoted,
                     {"event": "join-interrupted-promoted", "member_id": promoted})
            os.unlink(os.path.join(node.data_dir, member.JOIN_MARKER))
            node.save_state(state)
        else:
            node.log("an interrupted rejoin left partial data in the tmpfs; discarding it",
                     {"event": "join-interrupted"})
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
    crashed = mark is None and (facts["bootstrapped"] or facts["copy_exists"])
    if is_tmpfs and not has_data and (crashed or mark is not None):
        if facts["cluster_size"] > 1:
            others = member.healthy(node, node.other_endpoints(state))
            facts["quorum_elsewhere"] = bool(others)
            if others:
                # was this member removed (deliberately) while it was down? Then it stays out.
                verdict, dummy = decide.membership_verdict(
                    known_ids(node, state, mark), member.cluster_members(node, others), node.member["peer_urls"],
                    state.get("rejoin_removed") or [])
                facts["removed"] = verdict == decide.REMOVED
                facts["replaced"] = verdict == decide.REPLACED
        elif crashed:
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


def known_ids(node, state, mark=None):
    """The member ids this host's data had: recorded state, the disk copy's WAL, the clean mark."""
    ids = [state.get("member_id"), ((node.copy_meta() or {}).get("wal") or {}).get("member_id"),
           (mark or {}).get("member_id")]
    return [i for i in ids if i]


def restore_single(node, state, source, loss):
    """Crash of a single-member cluster: restore the chosen source - a verified snapshot or the clean disk copy,
    whichever has the higher revision of this cluster (same name, peer URLs and token, so the same member and
    cluster ids) - and report the loss."""
    node.clear_data_dir()
    initial = ",".join("%s=%s" % (node.member["name"], u) for u in node.member["peer_urls"])
    if source.get("kind") == "copy":
        # the saved data dir's db (no sha256 trailer): restored before the copy is retired (moved aside)
        member.restore_into_tmpfs(node, source["path"], initial, node.member["initial_cluster_token"],
                                  skip_hash_check=True)
        node.retire_copy("crash: single-member cluster restored from this copy")
    else:
        node.retire_copy("crash: single-member cluster restored from a snapshot")
        member.restore_into_tmpfs(node, source["path"], initial, node.member["initial_cluster_token"])
    node.restore_extras(node.stale_copy())
    node.chown_tree(node.data_dir)
    known = state.get("last_known") or {}
    when = source.get("created") or source.get("time")
    report = {
        "event": "restored-from-snapshot",
        "source_kind": source.get("kind", "snapshot"),
        "snapshot": source["path"],
        "snapshot_revision": source["revision"],
        "snapshot_time": when if isinstance(when, str) or when is None else iso_utc(when),
        "last_known_revision": known.get("revision"),
        "last_known_time": known.get("time"),
        "last_known_source": known.get("source"),
        "revision_gap": loss,
    }
    write_json_atomic(node.path("last-restore.json"), report)
    node.log("DATA LOSS: restored %s %s (revision %s, taken %s). Last known revision %s (%s at %s): %s "
             "revisions known lost, plus any writes after %s (bounded by the snapshot interval)." % (
                 report["source_kind"], source["path"], source["revision"], report["snapshot_time"], known.get("revision"),
                 known.get("source"), known.get("time"), "unknown" if loss is None else loss,
                 known.get("time") or report["snapshot_time"]), report)


# SERVICE_RESULT values of ExecStopPost for a main process that died on its own (systemd.exec(5))
PROCESS_CRASH = ("exit-code", "signal", "core-dump", "watchdog", "oom-kill")


def cmd_poststop(node, args):  # pylint: disable=unused-argument
    result = os.environ.get("SERVICE_RESULT") or "unknown"
    if result in PROCESS_CRASH and node.has_data() and member.unit_restarts(node):
        # the etcd process crashed and systemd restarts it: the tmpfs survives and the restart starts on it
        # (use-tmpfs); no copy of the whole database first. The mark was consumed at the start, so a power cut
        # meanwhile is a crash as before; the next clean stop saves.
        node.log("poststop: the member process ended with %s and the unit restarts: not saving, it restarts on "
                 "the tmpfs" % result, {"event": "save-skipped", "service_result": result})
        return 0
    return diskcopy.save(node, "poststop (service result %s)" % result)


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
    state = node.load_state()
    member.refresh(node, state, "watermark")
    node.save_state(state)
    return 0


def cmd_retire(node, args):  # pylint: disable=unused-argument
    """After a deliberate removal (playbooks/remove_member.yml, unit stopped): move the disk copy aside, empty the
    tmpfs and forget the member, so nothing of the removed member is ever started again; a later re-add of this
    host (site.yml) is a fresh join."""
    if member.unit_active(node):
        raise Fail("retire: %s is running; stop it first" % node.unit)
    state = node.load_state()
    if state.get("retired") and not node.current_copy() and not node.has_data():
        node.log("retire: already retired")
        return 0
    member_id = state.get("member_id") or ((node.copy_meta() or {}).get("wal") or {}).get("member_id")
    node.retire_copy("the member was removed from the cluster")
    node.clear_data_dir()
    retired = {"time": now_iso(), "member_id": member_id}
    node.save_state({"retired": retired, "bootstrapped": False})
    node.log("retire: member %s removed from the cluster; its disk copy was moved aside and the tmpfs emptied"
             % member_id, dict(retired, event="retired"))
    print(json.dumps({"changed": True, "retired": retired}))
    return 0


def cmd_defrag_check(node, args):  # pylint: disable=unused-argument
    """Is there room on the tmpfs for a defragmentation of this member (the compacted db is written next to the
    old one)? Prints the verdict as JSON; exits 1 (refused) when there is not. Run it on the member before
    defragmenting it (etcd has no API for the member's free space)."""
    status = member.own_status(node)
    free = member.fs_free(node.data_dir)
    ok, reason = defrag_room(free, status["db_size_in_use"])
    print(json.dumps({"ok": ok, "reason": reason, "free": free, "db_size": status["db_size"],
                      "db_size_in_use": status["db_size_in_use"]}))
    if not ok:
        raise Fail(reason)
    return 0


def cmd_refresh(node, args):  # pylint: disable=unused-argument
    """Record the member's id, revision and the current member list now (the etcd role runs it on the running
    members right after it adds a member, so a crash before the next watermark still counts the new member)."""
    state = node.load_state()
    view = member.refresh(node, state, "refresh")
    node.save_state(state)
    node.log("refresh: %s members, revision %s" % (state.get("member_count"), view["revision"]),
             {"event": "refresh", "member_count": state.get("member_count"), "revision": view["revision"]})
    return 0


def status(node):
    """The helper's view of this member; ``candidates`` are its restore sources for the DR playbook."""
    meta = node.copy_meta()
    state = node.load_state()
    candidates = [dict(kind="snapshot", name=e["name"], path=e["path"], revision=e["revision"],
                       verified=e["verified"], cluster_id=e["cluster_id"], time=iso_utc(e["created"]))
                  for e in member.snapshots(node)]
    copy = member.copy_candidate(node)
    if copy is not None:
        candidates.append(copy)
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
    "watermark": cmd_watermark, "refresh": cmd_refresh, "retire": cmd_retire, "defrag-check": cmd_defrag_check,
}


def main_verb(node, verb, args=None):
    return VERBS[verb](node, args)


def parser():
    top = argparse.ArgumentParser(prog="etcd-ramdisk", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--config", required=True, help="JSON config of the wrapped unit")
    sub = top.add_subparsers(dest="verb", required=True)
    for verb in backup.VERBS:  # the etcd_backup role's verbs: they take its config (backup.py)
        backup.add_arguments(sub.add_parser(verb), verb)
    for verb in certs.VERBS:  # the monitoring role's certificate-expiry textfile (certs.py)
        sub.add_parser(verb)
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
    if args.verb in certs.VERBS:
        return certs.run(args.verb, cfg, args)
    node = Node(cfg)
    os.makedirs(node.state_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(node.state_dir, ".lock"), "w") as lock:
        if args.verb not in ("status", "dr-choose"):
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return main_verb(node, args.verb, args)
        except (Fail, CoreError) as exc:
            node.log("FAILED %s: %s" % (args.verb, exc), {"event": "failed", "verb": args.verb})
            return 1
