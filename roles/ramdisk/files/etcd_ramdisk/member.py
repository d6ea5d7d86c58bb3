# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""What the helper asks of etcd: health of the other members, rejoin as a learner, promotion, snapshots, restore.

Transitional: still drives etcdctl/etcdutl; moves onto the collection's core (plugins/module_utils) next.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import json
import os
import shutil
import signal
import subprocess
import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._retention import plan_retention
from ansible_collections.etcdkit.etcd.plugins.module_utils._snapshot import (
    SnapshotFileError, fsync_dir, hash_file, write_json_atomic,
)

from . import diskcopy
from .decide import DR_HINT
from .node import JOIN_MARKER, Fail, now_iso, read_json, stamp


def etcdctl(node, args, endpoints, timeout=15, check=True):
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    env.update({"ETCDCTL_API": "3"})
    env.update(node.cfg.get("etcdctl_env") or {})
    env.pop("ETCDCTL_ENDPOINTS", None)
    cmd = [node.cfg["etcdctl"], "--endpoints=" + ",".join(endpoints), "--dial-timeout=3s",
           "--command-timeout=%ds" % max(timeout - 2, 3)] + args
    try:
        res = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        if check:
            raise Fail("etcdctl %s timed out" % " ".join(args))
        return None
    if check and res.returncode != 0:
        raise Fail("etcdctl %s failed: %s" % (" ".join(args), res.stderr.strip()[-500:]))
    return res


def etcdctl_json(node, args, endpoints, timeout=15):
    return json.loads(etcdctl(node, args + ["-w", "json"], endpoints, timeout).stdout)


def snapshot_status(node, db):
    util = node.cfg.get("etcdutl")
    if not util or not os.path.exists(util):
        return None
    res = subprocess.run([util, "snapshot", "status", db, "-w", "json"], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=300, check=False)
    if res.returncode != 0:
        raise Fail("etcdutl snapshot status %s failed: %s" % (db, res.stderr.strip()[-500:]))
    return json.loads(res.stdout)


def healthy(node, endpoints):
    found = []
    for ep in endpoints:
        res = etcdctl(node, ["endpoint", "health"], [ep], timeout=8, check=False)
        if res is not None and res.returncode == 0:
            found.append(ep)
    return found


def trailer_ok(path):
    try:
        hash_file(path).check()
        return True
    except SnapshotFileError:
        return False


def list_snapshots(node):
    out = []
    if not os.path.isdir(node.snap_dir):
        return out
    for name in os.listdir(node.snap_dir):
        if name.endswith(".db") and not name.startswith("."):
            meta = read_json(os.path.join(node.snap_dir, name[:-3] + ".json"))
            if meta and meta.get("verified"):
                out.append((name, meta))
    out.sort(key=lambda x: (x[1]["time"], x[0]), reverse=True)
    return out


def newest_verified_snapshot(node):
    for name, meta in list_snapshots(node):
        path = os.path.join(node.snap_dir, name)
        try:
            hasher = hash_file(path)
            hasher.check()
            if hasher.hexdigest() == meta.get("sha256"):
                return path, meta
        except SnapshotFileError:
            pass
        node.log("snapshot %s failed re-verification; skipping it" % path, {"event": "snapshot-bad", "path": path})
    return None, None


def take_snapshot(node, state):
    eps = node.own_client_urls()[:1]
    try:
        listing = etcdctl_json(node, ["member", "list"], eps)
        state["members"] = {m.get("name") or "%x" % m["ID"]: m.get("clientURLs") or [] for m in listing["members"]
                            if not m.get("isLearner")}
    except (Fail, ValueError, KeyError) as exc:
        node.log("snapshot: could not read the member list: %s" % exc)
    os.makedirs(node.snap_dir, mode=0o700, exist_ok=True)
    now = stamp()
    tmp = os.path.join(node.snap_dir, ".tmp-%s.db" % now)
    try:
        etcdctl(node, ["snapshot", "save", tmp], eps, timeout=int(node.cfg.get("snapshot_timeout", 300)))
        hasher = hash_file(tmp)
        try:
            hasher.check()
        except SnapshotFileError as exc:
            raise Fail("snapshot %s: %s" % (tmp, exc))
        status = snapshot_status(node, tmp)
        if status is None:
            raise Fail("etcdutl is not available to verify the snapshot")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        base = "snapshot-%s-r%d" % (now[:15] + "Z", status["revision"])
        os.rename(tmp, os.path.join(node.snap_dir, base + ".db"))
        meta = {"verified": True, "revision": status["revision"], "hash": status["hash"],
                "total_keys": status["totalKey"], "size": os.path.getsize(os.path.join(node.snap_dir, base + ".db")),
                "sha256": hasher.hexdigest(), "time": now_iso(), "member": node.member["name"], "endpoint": eps[0]}
        write_json_atomic(os.path.join(node.snap_dir, base + ".json"), meta)
        fsync_dir(node.snap_dir)
    finally:
        for leftover in (tmp, tmp + ".part"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    node.note_revision(state, status["revision"], "snapshot")
    node.save_state(state)
    node.log("snapshot %s verified (revision %d, %d bytes)" % (base, status["revision"], meta["size"]),
             {"event": "snapshot", "name": base, "revision": status["revision"]})
    snaps = []
    for name, smeta in list_snapshots(node):
        snaps.append({"name": name, "verified": True, "time": datetime.datetime.strptime(
            smeta["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)})
    ret = node.cfg.get("retention") or {}
    plan = plan_retention(snaps, {"keep_last": int(ret.get("keep_last", 10)),
                                  "keep_daily": int(ret.get("keep_daily", 7))})
    for entry in plan["prune"]:
        name = entry["name"]
        for path in (name, name[:-3] + ".json"):
            try:
                os.unlink(os.path.join(node.snap_dir, path))
            except (IOError, OSError):
                pass
        node.log("retention: removed %s" % name)


def try_promote(node, state):
    eps = node.own_client_urls()[:1] + node.other_endpoints(state)
    try:
        listing = etcdctl_json(node, ["member", "list"], eps)
    except (Fail, ValueError):
        return False
    for mem in listing.get("members", []):
        if mem.get("isLearner") and set(mem.get("peerURLs") or []) & set(node.member["peer_urls"]):
            res = etcdctl(node, ["member", "promote", "%x" % mem["ID"]], eps, check=False)
            if res is not None and res.returncode == 0:
                node.log("promoted learner %x" % mem["ID"], {"event": "promoted", "member_id": "%x" % mem["ID"]})
                return True
            node.log("learner %x not promoted yet: %s" % (mem["ID"], (res.stderr if res else "timeout").strip()))
    return False


def rejoin(node, state):
    others = healthy(node, node.other_endpoints(state))
    if not others:
        raise Fail("no healthy member left to rejoin through. " + DR_HINT)
    peer_urls = node.member["peer_urls"]
    name = node.member["name"]
    listing = etcdctl_json(node, ["member", "list"], others)
    for mem in listing.get("members", []):
        if set(mem.get("peerURLs") or []) & set(peer_urls):
            node.log("removing the crashed member %x (%s) from the cluster" % (mem["ID"], mem.get("name") or "unstarted"),
                     {"event": "member-remove", "member_id": "%x" % mem["ID"]})
            etcdctl(node, ["member", "remove", "%x" % mem["ID"]], others)
    added = etcdctl_json(node, ["member", "add", name, "--learner", "--peer-urls=" + ",".join(peer_urls)], others)
    new_id = added["member"]["ID"]
    node.log("re-added %s as learner %x" % (name, new_id), {"event": "member-add-learner", "member_id": "%x" % new_id})
    initial = []
    for mem in added.get("members", []):
        mname = mem.get("name") or (name if mem["ID"] == new_id else "m%x" % mem["ID"])
        initial += ["%s=%s" % (mname, u) for u in mem.get("peerURLs") or []]
    promoted = run_temporary_learner(node, ",".join(initial), lambda: etcdctl(
        node, ["member", "promote", "%x" % new_id], others, timeout=10, check=False))
    state = node.load_state()
    state["member_id"] = "%x" % new_id
    node.save_state(state)
    if promoted:
        node.log("member %x caught up and was promoted to a voting member" % new_id,
                 {"event": "promoted", "member_id": "%x" % new_id})
    else:
        node.log("member %x is still a learner after the rejoin timeout; the snapshot timer promotes it once caught up"
                 % new_id, {"event": "promote-pending", "member_id": "%x" % new_id})


def run_temporary_learner(node, initial_cluster, promote):
    """Run etcd as the etcd user on the empty tmpfs with ``initial-cluster-state: existing`` until ``promote()``
    succeeds (or the rejoin timeout passes), then stop it. Returns whether the promotion happened."""
    node.retire_copy("crash: replaced by a learner rejoin")
    node.clear_data_dir()
    marker = os.path.join(node.data_dir, JOIN_MARKER)
    with open(marker, "w") as handle:
        handle.write("joining\n")
    os.makedirs(node.run_dir, mode=0o755, exist_ok=True)
    os.chmod(node.run_dir, 0o755)
    run_dir = os.path.join(node.run_dir, node.unit)
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    os.chown(run_dir, node.uid, node.gid)
    overrides = {"data-dir": node.data_dir, "initial-cluster": initial_cluster, "initial-cluster-state": "existing"}
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    if node.cfg.get("etcd_config"):
        conf = dict(node.cfg["etcd_config"], **overrides)
        conf_path = os.path.join(run_dir, "join.conf.json")
        write_json_atomic(conf_path, conf)
        os.chown(conf_path, node.uid, node.gid)
        cmd = [node.cfg["etcd"], "--config-file", conf_path]
    else:
        cmd = [node.cfg["etcd"]] + list(node.cfg.get("etcd_args") or []) + ["--%s=%s" % kv for kv in overrides.items()]
    log_path = os.path.join(run_dir, "join.log")
    node.log("starting a temporary learner: %s" % " ".join(cmd))
    deadline = time.monotonic() + float(node.cfg.get("rejoin_timeout", 240))
    promoted = False
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                user=node.uid, group=node.gid, extra_groups=[], cwd="/")
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise Fail("the temporary learner exited with %s; see %s" % (proc.returncode, log_path))
                res = promote()
                if res is not None and res.returncode == 0:
                    promoted = True
                    break
                time.sleep(1)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    if not node.has_data():
        raise Fail("the temporary learner left no WAL in %s; see %s" % (node.data_dir, log_path))
    os.unlink(marker)
    node.restore_extras(node.stale_copy())
    node.chown_tree(node.data_dir)
    os.chmod(node.data_dir, 0o700)
    return promoted


def restore_into_tmpfs(node, snap, initial_cluster, token, skip_hash_check=False):
    tmp = os.path.join(node.data_dir, ".ramdisk-restore-%d" % os.getpid())
    cmd = [node.cfg["etcdutl"], "snapshot", "restore", snap, "--name", node.member["name"],
           "--initial-cluster", initial_cluster, "--initial-advertise-peer-urls", ",".join(node.member["peer_urls"]),
           "--initial-cluster-token", token, "--data-dir", tmp] + (["--skip-hash-check"] if skip_hash_check else [])
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False)
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise Fail("etcdutl snapshot restore failed: %s" % res.stderr.strip()[-800:])
    node.chown_tree(tmp)
    diskcopy.move_contents(tmp, node.data_dir)
    os.chmod(node.data_dir, 0o700)


def unit_active(node):
    return subprocess.run(["systemctl", "is-active", "--quiet", node.unit], check=False).returncode == 0


def current_revision(node):
    status = etcdctl_json(node, ["endpoint", "status"], node.own_client_urls()[:1], timeout=10)
    return status[0]["Status"]["header"]["revision"]
