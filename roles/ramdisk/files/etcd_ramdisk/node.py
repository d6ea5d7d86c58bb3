# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""The helper's view of one wrapped unit on this node: config, event log, state, disk copy and clean mark.

On disk (``state_dir``, per unit): ``current -> gen-<time>/`` (the last saved data dir + ``meta.json``),
``clean.json`` (the clean mark), ``state.json``, ``events.log`` (JSON lines), ``last-restore.json`` and at most one
``stale-gen-*`` (a retired copy kept for forensics).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import errno
import fcntl
import grp
import json
import os
import pwd
import shutil
import sys

from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import (
    chown_tree, clear_dir, fsync_dir, iso_utc, read_json, write_json_atomic,
)

from .wal import has_wal, read_wal

EVENTS_MAX = 1 << 20
JOIN_MARKER = ".ramdisk-joining"


class Fail(Exception):
    """A step of the helper that cannot go on; the verb exits 1 (fail closed) with this message."""


def now_iso():
    return iso_utc()


def stamp():
    """A sortable, unique-enough name part for disk copy generations."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def unescape_mount(text):
    """Undo the octal escapes of /proc/self/mountinfo."""
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def fstype(path, mountinfo="/proc/self/mountinfo"):
    """File system type mounted exactly on ``path`` (the last mount wins), or None."""
    target = os.path.realpath(path)
    found = None
    with open(mountinfo) as handle:
        for line in handle:
            parts = line.split()
            sep = parts.index("-")
            if unescape_mount(parts[4]) == target:
                found = parts[sep + 1]
    return found


def db_locked(data_dir):
    """Does a process hold bbolt's exclusive flock on ``member/snap/db`` (is the member still running)?"""
    db = os.path.join(data_dir, "member", "snap", "db")
    try:
        fd = os.open(db, os.O_RDONLY)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except (IOError, OSError) as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)


class Node(object):
    """One wrapped unit: paths and state from its JSON config (``/etc/etcdkit/ramdisk/<unit>.json``)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.unit = cfg["unit"]
        self.data_dir = cfg["data_dir"].rstrip("/") or "/"
        self.state_dir = cfg["state_dir"]
        self.snap_dir = cfg["snapshot_dir"]
        self.run_dir = cfg.get("run_dir", "/run/etcdkit-ramdisk")
        self.uid = pwd.getpwnam(cfg["user"]).pw_uid
        self.gid = grp.getgrnam(cfg.get("group") or cfg["user"]).gr_gid
        self.member = cfg["member"]

    # ------------------------------------------------------------------------------------------ log and state
    def log(self, msg, event=None):
        """A line on stderr (the journal) and, for decisions, a JSON line in events.log."""
        print("etcd-ramdisk[%s]: %s" % (self.unit, msg), file=sys.stderr)
        sys.stderr.flush()
        if not event:
            return
        try:
            os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
            path = self.path("events.log")
            with open(path, "a") as handle:
                handle.write(json.dumps(dict(event, time=now_iso(), message=msg), sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            if os.path.getsize(path) > EVENTS_MAX:
                with open(path) as handle:
                    lines = handle.readlines()
                with open(path + ".tmp", "w") as handle:
                    handle.writelines(lines[len(lines) // 2:])
                    handle.flush()
                    os.fsync(handle.fileno())
                os.rename(path + ".tmp", path)
        except (IOError, OSError):
            pass

    def path(self, *parts):
        return os.path.join(self.state_dir, *parts)

    def load_state(self):
        return read_json(self.path("state.json")) or {}

    def save_state(self, state):
        write_json_atomic(self.path("state.json"), state)

    @staticmethod
    def note_revision(state, revision, source):
        """Remember the highest revision this member is known to have had (for the loss report of a restore)."""
        if revision is None:
            return
        known = state.get("last_known") or {}
        if revision >= known.get("revision", -1):
            state["last_known"] = {"revision": revision, "time": now_iso(), "source": source}

    # -------------------------------------------------------------------------------------- data dir (tmpfs)
    def is_tmpfs(self):
        return fstype(self.data_dir) == "tmpfs"

    def has_data(self, root=None):
        return has_wal(root or self.data_dir)

    def wal(self, root=None):
        return read_wal(os.path.join(root or self.data_dir, "member", "wal"))

    def db_locked(self):
        return db_locked(self.data_dir)

    def chown_tree(self, root):
        chown_tree(root, self.uid, self.gid)

    def clear_data_dir(self):
        clear_dir(self.data_dir)

    def joining(self):
        return os.path.exists(os.path.join(self.data_dir, JOIN_MARKER))

    # --------------------------------------------------------------------------------- disk copy, clean mark
    def current_copy(self):
        link = self.path("current")
        if not os.path.islink(link):
            return None
        target = os.path.join(self.state_dir, os.readlink(link))
        return target if os.path.isdir(target) else None

    def copy_meta(self):
        cur = self.current_copy()
        return read_json(os.path.join(cur, "meta.json")) if cur else None

    def clean_mark(self):
        """The clean mark if it matches the current disk copy and the copy's WAL, else None."""
        mark = read_json(self.path("clean.json"))
        cur = self.current_copy()
        if not mark or not cur:
            return None
        meta = read_json(os.path.join(cur, "meta.json")) or {}
        if mark.get("copy") != os.path.basename(cur) or mark.get("wal") != meta.get("wal"):
            self.log("clean mark does not match the disk copy (mark %s, copy %s); ignoring it" % (
                mark.get("copy"), os.path.basename(cur)), {"event": "mark-mismatch"})
            return None
        if self.wal(cur) != meta.get("wal"):
            self.log("disk copy %s does not match its metadata; ignoring the clean mark" % cur,
                     {"event": "copy-corrupt"})
            return None
        return mark

    def consume_mark(self):
        mark = self.path("clean.json")
        if os.path.exists(mark):
            os.unlink(mark)
            fsync_dir(self.state_dir)
            self.log("clean mark consumed")

    def retire_copy(self, why):
        """Move a stale disk copy aside (one generation kept for forensics) so it can never be used again."""
        cur = self.current_copy()
        self.consume_mark()
        if not cur:
            return
        for name in os.listdir(self.state_dir):
            if name.startswith("stale-"):
                shutil.rmtree(self.path(name), ignore_errors=True)
        dest = self.path("stale-" + os.path.basename(cur))
        os.rename(cur, dest)
        os.unlink(self.path("current"))
        fsync_dir(self.state_dir)
        self.log("disk copy retired to %s (%s)" % (dest, why), {"event": "copy-retired", "copy": dest})

    def stale_copy(self):
        for name in sorted(os.listdir(self.state_dir)):
            if name.startswith("stale-"):
                return self.path(name)
        return None

    def restore_extras(self, src):
        """Copy top-level non-raft files (e.g. the etcd role's ownership marker) from a retired copy."""
        if not src or not os.path.isdir(src):
            return
        for name in os.listdir(src):
            source = os.path.join(src, name)
            if name in ("member", "meta.json") or not os.path.isfile(source):
                continue
            dest = os.path.join(self.data_dir, name)
            if not os.path.exists(dest):
                shutil.copyfile(source, dest)
                os.chown(dest, self.uid, self.gid)
                os.chmod(dest, 0o600)

    # --------------------------------------------------------------------------------------------- cluster
    def own_client_urls(self):
        return list(self.member.get("client_urls") or [])

    def other_endpoints(self, state):
        """Client URLs of the other members: from the role (inventory) and from the last member list seen."""
        mine = set(self.own_client_urls())
        eps = []
        for urls in list((self.cfg.get("endpoints") or {}).values()) + list((state.get("members") or {}).values()):
            for url in urls:
                if url not in mine and url not in eps:
                    eps.append(url)
        return eps

    @staticmethod
    def record_members(state, members):
        """Remember the member list (core format): the voters' client URLs (to reach a quorum) and the number of
        members, learners and unstarted ones included (a learner or a member added but not started yet still
        lists this one: restoring this member alone would split the cluster)."""
        state["members"] = dict((m["name"] or "%016x" % m["id"], m["client_urls"]) for m in members
                                if not m["is_learner"])
        state["member_count"] = len(members)
        state["members_time"] = now_iso()

    def cluster_size(self, state):
        names = set((self.cfg.get("endpoints") or {}).keys()) | set((state.get("members") or {}).keys())
        return max(len(names), int(state.get("member_count") or 1), int(self.cfg.get("cluster_size_min") or 1), 1)
