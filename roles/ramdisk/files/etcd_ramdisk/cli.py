# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""etcd-ramdisk: keep an etcd member's data dir on a tmpfs without losing acknowledged writes.

One JSON config per wrapped systemd unit (``--config /etc/etcdkit/ramdisk/<unit>.json``). Verbs:

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
  dr-restore Disaster recovery: restore a snapshot into the (empty) tmpfs for a new cluster (playbooks/restore.yml).
  status     Print the helper's view of this member (JSON).

The decisions are the pure functions of ``etcd_ramdisk.decide`` (unit-tested in tests/unit/ramdisk).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._snapshot import (
    SnapshotFileError, fsync_dir, hash_file, write_json_atomic,
)

from . import decide, diskcopy, member
from .node import Fail, Node, now_iso, read_json, stamp


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
    if is_tmpfs and not has_data and mark is None and (facts["bootstrapped"] or facts["copy_exists"]):
        if facts["cluster_size"] > 1:
            facts["quorum_elsewhere"] = bool(member.healthy(node, node.other_endpoints(state)))
        else:
            facts["snapshot_available"] = member.newest_verified_snapshot(node)[0] is not None
    action, reason = decide.decide_prestart(facts)
    node.log("prestart: %s: %s" % (action, reason), {"event": "prestart", "action": action, "state": facts})
    if action == decide.REFUSE:
        raise Fail(reason)
    if action == decide.USE_TMPFS:
        node.consume_mark()
    elif action == decide.COPY_IN:
        copy_in(node, mark)
    elif action == decide.REJOIN:
        member.rejoin(node, state)
    elif action == decide.RESTORE:
        restore_single(node, state)
    state = node.load_state()
    state["bootstrapped"] = True
    state["last_start"] = {"time": now_iso(), "action": action}
    node.save_state(state)
    return 0


def copy_in(node, mark):
    cur = node.current_copy()
    tmp = os.path.join(node.data_dir, ".ramdisk-in-%d" % os.getpid())
    diskcopy.copy_tree_durable(cur, tmp, skip=("meta.json",))
    node.chown_tree(tmp)
    diskcopy.move_contents(tmp, node.data_dir)
    wal = node.wal()
    if wal != mark.get("wal"):
        node.clear_data_dir()
        raise Fail("the copied data does not match the clean mark (%s != %s)" % (wal, mark.get("wal")))
    node.consume_mark()
    node.log("copied the clean disk copy %s in (member %s, term %d, commit %d, revision %s)" % (
        os.path.basename(cur), wal["member_id"], wal["term"], wal["commit"], mark.get("revision")),
        {"event": "copy-in", "wal": wal, "revision": mark.get("revision")})


def restore_single(node, state):
    snap, meta = member.newest_verified_snapshot(node)
    if not snap:
        raise Fail("no verified snapshot left. " + decide.DR_HINT)
    node.retire_copy("crash: single-member cluster restored from a snapshot")
    node.clear_data_dir()
    initial = ",".join("%s=%s" % (node.member["name"], u) for u in node.member["peer_urls"])
    member.restore_into_tmpfs(node, snap, initial, node.member["initial_cluster_token"])
    node.restore_extras(node.stale_copy())
    node.chown_tree(node.data_dir)
    os.chmod(node.data_dir, 0o700)
    known = state.get("last_known") or {}
    gap = decide.revision_gap(meta["revision"], known)
    report = {
        "event": "restored-from-snapshot",
        "snapshot": snap,
        "snapshot_revision": meta["revision"],
        "snapshot_time": meta["time"],
        "last_known_revision": known.get("revision"),
        "last_known_time": known.get("time"),
        "last_known_source": known.get("source"),
        "revision_gap": gap,
    }
    write_json_atomic(node.path("last-restore.json"), report)
    node.log("DATA LOSS: restored snapshot %s (revision %s, taken %s). Last known revision %s (%s at %s): %s "
             "revisions known lost, plus any writes after %s (bounded by the snapshot interval)." % (
                 snap, meta["revision"], meta["time"], known.get("revision"), known.get("source"), known.get("time"),
                 "unknown" if gap is None else gap, known.get("time") or meta["time"]), report)


def save(node, reason):
    """Save the stopped member's data dir to the disk copy (atomic) and write the clean mark."""
    if not node.has_data():
        node.log("%s: no member data in %s; nothing to save" % (reason, node.data_dir))
        return 0
    if node.joining():
        node.log("%s: the data dir holds an unfinished rejoin; not saving it" % reason)
        return 0
    deadline = time.monotonic() + float(node.cfg.get("stop_wait", 30))
    ran_stop = False
    while node.db_locked():
        if not ran_stop and node.cfg.get("stop_command"):
            node.log("the member still runs; running the configured stop command")
            subprocess.run(node.cfg["stop_command"], stdin=subprocess.DEVNULL, timeout=60, check=False)
            ran_stop = True
        if time.monotonic() > deadline:
            raise Fail("the etcd member still holds %s/member/snap/db: not saving a live data dir" % node.data_dir)
        time.sleep(0.5)
    new = node.wal()
    old_meta = node.copy_meta()
    old = old_meta.get("wal") if old_meta else None
    ok, why = decide.decide_save(new, old)
    if not ok:
        node.log("%s: %s" % (reason, why), {"event": "save-refused", "new": new, "old": old})
        raise Fail(why)
    node.consume_mark()
    started = time.monotonic()
    gen = "gen-%s" % stamp()
    tmp = node.path(".tmp-" + gen)
    shutil.rmtree(tmp, ignore_errors=True)
    size = diskcopy.copy_tree_durable(node.data_dir, tmp)
    if node.wal(tmp) != new:
        shutil.rmtree(tmp, ignore_errors=True)
        raise Fail("the data dir changed while it was copied: is the member really stopped?")
    revision = None
    try:
        status = member.snapshot_status(node, os.path.join(tmp, "member", "snap", "db"))
        revision = status["revision"] if status else None
    except Fail as exc:
        node.log("could not read the revision of the saved db: %s" % exc)
    meta = {"wal": new, "revision": revision, "time": now_iso(), "bytes": size, "reason": reason}
    write_json_atomic(os.path.join(tmp, "meta.json"), meta)
    os.rename(tmp, node.path(gen))
    link_tmp = node.path(".current.tmp")
    if os.path.lexists(link_tmp):
        os.unlink(link_tmp)
    os.symlink(gen, link_tmp)
    os.rename(link_tmp, node.path("current"))
    fsync_dir(node.state_dir)
    for name in os.listdir(node.state_dir):
        if name.startswith("gen-") and name != gen:
            shutil.rmtree(node.path(name), ignore_errors=True)
    write_json_atomic(node.path("clean.json"), {"copy": gen, "wal": new, "revision": revision, "time": meta["time"],
                                                "member_id": new["member_id"], "cluster_id": new["cluster_id"]})
    state = node.load_state()
    node.note_revision(state, revision, "save")
    state["member_id"] = new["member_id"]
    state["bootstrapped"] = True
    node.save_state(state)
    node.log("%s: saved %d bytes to %s in %.2fs and wrote the clean mark (member %s, term %d, commit %d, revision %s)"
             % (reason, size, gen, time.monotonic() - started, new["member_id"], new["term"], new["commit"], revision),
             {"event": "saved", "copy": gen, "wal": new, "revision": revision, "bytes": size})
    return 0


def cmd_poststop(node, args):  # pylint: disable=unused-argument
    return save(node, "poststop (service result %s)" % (os.environ.get("SERVICE_RESULT") or "unknown"))


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
            save(node, "adopt")
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
    member.take_snapshot(node, state)
    return 0


def cmd_promote(node, args):  # pylint: disable=unused-argument
    member.try_promote(node, node.load_state())
    return 0


def cmd_dr_restore(node, args):
    if node.cfg.get("require_tmpfs", True) and not node.is_tmpfs():
        raise Fail("dr-restore: %s is not a tmpfs mount" % node.data_dir)
    if member.unit_active(node):
        raise Fail("dr-restore: stop %s on every member first" % node.unit)
    if args.expect_sha256 or not args.skip_hash_check:
        try:
            hasher = hash_file(args.snapshot)
            if not args.skip_hash_check:
                hasher.check()
        except SnapshotFileError as exc:
            raise Fail("dr-restore: %s: %s" % (args.snapshot, exc))
        if args.expect_sha256 and hasher.hexdigest() != args.expect_sha256:
            raise Fail("dr-restore: %s does not have the expected sha256" % args.snapshot)
    node.retire_copy("disaster recovery from %s" % args.snapshot)
    node.clear_data_dir()
    member.restore_into_tmpfs(node, args.snapshot, args.initial_cluster,
                              args.token or node.member["initial_cluster_token"], args.skip_hash_check)
    node.restore_extras(node.stale_copy())
    status = member.snapshot_status(node, args.snapshot)
    state = node.load_state()
    state["bootstrapped"] = True
    node.save_state(state)
    node.log("dr-restore: restored %s (revision %s) for initial cluster %s" % (
        args.snapshot, status and status["revision"], args.initial_cluster),
        {"event": "dr-restore", "snapshot": args.snapshot, "revision": status and status["revision"]})
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


def cmd_status(node, args):  # pylint: disable=unused-argument
    cur = node.current_copy()
    out = {
        "unit": node.unit,
        "data_dir": node.data_dir,
        "is_tmpfs": node.is_tmpfs(),
        "tmpfs_has_data": node.has_data(),
        "tmpfs_wal": node.wal(),
        "copy": node.copy_meta(),
        "copy_db": os.path.join(cur, "member", "snap", "db") if cur else None,
        "member": node.member,
        "clean_mark": read_json(node.path("clean.json")),
        "state": node.load_state(),
        "snapshots": [dict(m, name=n, path=os.path.join(node.snap_dir, n)) for n, m in member.list_snapshots(node)],
        "last_restore": read_json(node.path("last-restore.json")),
    }
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


VERBS = {
    "prestart": cmd_prestart, "poststop": cmd_poststop, "snapshot": cmd_snapshot, "adopt": cmd_adopt,
    "promote": cmd_promote, "dr-restore": cmd_dr_restore, "status": cmd_status, "watermark": cmd_watermark,
}


def parser():
    top = argparse.ArgumentParser(prog="etcd-ramdisk", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--config", required=True, help="JSON config of the wrapped unit")
    sub = top.add_subparsers(dest="verb", required=True)
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
    node = Node(cfg)
    os.makedirs(node.state_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(node.state_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return VERBS[args.verb](node, args)
        except Fail as exc:
            node.log("FAILED %s: %s" % (args.verb, exc), {"event": "failed", "verb": args.verb})
            return 1


if __name__ == "__main__":
    sys.exit(main())
