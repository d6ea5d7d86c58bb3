# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""The disk copy: save the stopped member's tmpfs data dir to disk, copy it back in after a clean stop.

etcd has no API for a stopped member's files: these are file operations. The durable sparse copy, ownership and
atomic JSON writes are the core's (``_fsutil``); the revision of a saved db is read with ``etcdutl snapshot
status`` (``_restore.snapshot_status``). What is the helper's own: the generations (``gen-<time>/`` + ``meta.json``
and the ``current`` link), the WAL guard (never replace newer data with older data) and the clean mark.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import shutil
import subprocess
import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import (
    copy_tree_durable, fsync_dir, write_json_atomic,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._restore import RestoreError, snapshot_status

from .decide import decide_save
from .node import Fail, now_iso, stamp

SKIP_PREFIXES = (".ramdisk-",)


def move_contents(src, dst):
    """Rename every entry of ``src`` into ``dst`` (same file system) and remove ``src``."""
    for name in os.listdir(src):
        os.rename(os.path.join(src, name), os.path.join(dst, name))
    os.rmdir(src)


def db_revision(node, db):
    """Store revision of a db file (``etcdutl snapshot status``), None when etcdutl cannot tell."""
    util = node.cfg.get("etcdutl")
    if not util or not os.path.exists(util):
        return None
    try:
        return snapshot_status(util, db)["revision"]
    except RestoreError as exc:
        node.log("could not read the revision of %s: %s" % (db, exc))
        return None


def wait_stopped(node, reason):
    """Wait until nothing holds bbolt's lock on the db (runs ``stop_command`` once if the member still runs).
    Returns whether the stop command ran."""
    deadline = time.monotonic() + float(node.cfg.get("stop_wait", 30))
    ran_stop = False
    failed = ""
    while node.db_locked():
        if not ran_stop and node.cfg.get("stop_command"):
            node.log("%s: the member still runs; running the configured stop command" % reason)
            ran_stop = True
            try:
                res = subprocess.run(node.cfg["stop_command"], stdin=subprocess.DEVNULL, timeout=60, check=False)
                failed = "" if res.returncode == 0 else "ramdisk_stop_command %s exited with %d" % (
                    node.cfg["stop_command"], res.returncode)
            except (OSError, subprocess.SubprocessError) as exc:
                # a missing or hanging stop command: a clear failure (no clean mark), never a traceback
                failed = "ramdisk_stop_command %s failed: %s" % (node.cfg["stop_command"], exc)
            if failed:
                node.log("%s: %s" % (reason, failed))
        if time.monotonic() > deadline:
            raise Fail("the etcd member still holds %s/member/snap/db%s: not saving a live data dir" % (
                node.data_dir, " (%s)" % failed if failed else ""))
        time.sleep(0.5)
    return ran_stop


def save(node, reason):
    """Save the stopped member's data dir to a new disk copy generation (atomic) and write the clean mark."""
    if not node.has_data():
        node.log("%s: no member data in %s; nothing to save" % (reason, node.data_dir))
        return 0
    if node.joining():
        node.log("%s: the data dir holds an unfinished rejoin; not saving it" % reason)
        return 0
    stopped_by_command = wait_stopped(node, reason)
    new = node.wal()
    old_meta = node.copy_meta()
    old = old_meta.get("wal") if old_meta else None
    ok, why = decide_save(new, old)
    if not ok:
        node.log("%s: %s" % (reason, why), {"event": "save-refused", "new": new, "old": old})
        raise Fail(why)
    node.consume_mark()
    started = time.monotonic()
    gen = "gen-%s" % stamp()
    tmp = node.path(".tmp-" + gen)
    # leftovers of a save cut short (power cut, killed at TimeoutStopSec) take disk space and are never used
    for name in os.listdir(node.state_dir):
        if name.startswith(".tmp-gen-"):
            shutil.rmtree(node.path(name), ignore_errors=True)
    try:
        size = copy_tree_durable(node.data_dir, tmp, skip_prefixes=SKIP_PREFIXES)
        if node.wal(tmp) != new:
            raise Fail("the data dir changed while it was copied: is the member really stopped?")
        revision = db_revision(node, os.path.join(tmp, "member", "snap", "db"))
        meta = {"wal": new, "revision": revision, "time": now_iso(), "bytes": size, "reason": reason}
        write_json_atomic(os.path.join(tmp, "meta.json"), meta)
        os.rename(tmp, node.path(gen))
    except (Fail, IOError, OSError) as exc:
        # a full or failing disk: the previous copy and its state stay as they were (no clean mark: the next boot
        # treats this stop as a crash, never as lossless), nothing half-written is left behind
        shutil.rmtree(tmp, ignore_errors=True)
        cause = str(exc)
        node.log("%s: save FAILED, no clean mark written: %s" % (reason, cause),
                 {"event": "save-failed", "cause": cause, "reason": reason})
        raise Fail("save failed: %s" % cause)
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
    state["last_save"] = {"seconds": round(time.monotonic() - started, 3), "bytes": size, "time": meta["time"]}
    state["member_id"] = new["member_id"]
    state["bootstrapped"] = True
    node.save_state(state)
    node.log("%s: saved %d bytes to %s in %.2fs and wrote the clean mark (member %s, term %d, commit %d, revision %s)"
             % (reason, size, gen, time.monotonic() - started, new["member_id"], new["term"], new["commit"], revision),
             {"event": "saved", "copy": gen, "wal": new, "revision": revision, "bytes": size,
              "stop_command": stopped_by_command})
    return 0


def copy_in(node, mark):
    """Copy the clean disk copy into the empty tmpfs, check it against the mark, consume the mark."""
    cur = node.current_copy()
    tmp = os.path.join(node.data_dir, ".ramdisk-in-%d" % os.getpid())
    copy_tree_durable(cur, tmp, skip=("meta.json",), skip_prefixes=SKIP_PREFIXES)
    node.chown_tree(tmp)
    move_contents(tmp, node.data_dir)
    wal = node.wal()
    if wal != mark.get("wal"):
        node.clear_data_dir()
        raise Fail("the copied data does not match the clean mark (%s != %s)" % (wal, mark.get("wal")))
    node.consume_mark()
    node.log("copied the clean disk copy %s in (member %s, term %d, commit %d, revision %s)" % (
        os.path.basename(cur), wal["member_id"], wal["term"], wal["commit"], mark.get("revision")),
        {"event": "copy-in", "wal": wal, "revision": mark.get("revision")})
