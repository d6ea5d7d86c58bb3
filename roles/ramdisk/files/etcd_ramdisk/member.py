# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""What the helper asks of etcd, through the collection's core (no etcdctl):

- the core client over the JSON gateway with this member's TLS files (with etcd auth on: the CN-less gateway
  certificate plus user/password from the 0600 config; never on a command line);
- the crash rejoin: guarded removal of the old member, add as a learner, a temporary etcd until the learner is
  promoted via the leader (``_membership``);
- snapshots: stream -> verified file + the one sidecar schema, retention (``_snapstore``, ``_retention``), and
  the choice of a restore source (``_cluster.choose_restore_source``);
- restores: etcdutl argv and swap-in (``_restore``; etcd has no API for a restore, it is a file operation).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import signal
import subprocess
import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient
from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import choose_restore_source, match_member
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import utc_now, write_json_atomic
from ansible_collections.etcdkit.etcd.plugins.module_utils._membership import (
    add_learner, describe, promote_learner, remove_member,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._restore import (
    RestoreError, restore, restore_params, snapshot_status,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._retention import policy_from_ramdisk
from ansible_collections.etcdkit.etcd.plugins.module_utils._snapstore import (
    SnapshotFileError, lock_dir, plan_prune, prune, save_stream, scan, snapshot_basename, verify_file,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id

from .decide import DR_HINT
from .node import JOIN_MARKER, Fail

SNAPSHOT_PREFIX = "snapshot"
# seconds the temporary learner gets to stop after SIGTERM before it is killed (part of the start budget)
LEARNER_STOP_WAIT = 30


# ------------------------------------------------------------------------------------------------ client

def client(node, endpoints, timeout=10):
    """The core client with the connection settings of the helper's config (``client``: ca_cert, client_cert,
    client_key, user, password)."""
    conn = node.cfg.get("client") or {}
    return EtcdClient(endpoints, ca_cert=conn.get("ca_cert") or None, client_cert=conn.get("client_cert") or None,
                      client_key=conn.get("client_key") or None, user=conn.get("user") or None,
                      password=conn.get("password") or None, timeout=timeout)


def cluster_members(node, endpoints):
    """The member list (the core's) from the given healthy endpoints."""
    return client(node, endpoints, timeout=5).member_list()["members"]


def healthy(node, endpoints):
    """The endpoints whose member is healthy and has a leader (so a quorum exists there)."""
    if not endpoints:
        return []
    cli = client(node, endpoints, timeout=5)
    return [ep for ep in endpoints if cli.probe(ep)["healthy"]]


def own_status(node):
    """This running member's status (the core's: db_size, db_size_in_use, revision, ...)."""
    own = node.own_client_urls()[0]
    return client(node, [own]).status(own)


def fs_free(path):
    """Bytes available on the file system of ``path``."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def own_view(node):
    """This running member's status and the member list it knows (learners and unstarted members included)."""
    own = node.own_client_urls()[0]
    cli = client(node, [own])
    status = cli.status(own)
    try:
        members = cli.member_list(endpoint=own)["members"]
    except EtcdError as exc:
        node.log("could not read the member list: %s" % exc)
        members = None
    return dict(revision=status["revision"], member_id=status["member_id"], cluster_id=status["cluster_id"],
                members=members)


def refresh(node, state, source):
    """Record what this member is now (revision, member id, cluster id) and the current member list: the
    authoritative cluster size after a crash (the role's config may predate a growth by site.yml)."""
    view = own_view(node)
    node.note_revision(state, view["revision"], source)
    state["member_id"] = format_id(view["member_id"])
    state["cluster_id"] = format_id(view["cluster_id"])
    if view["members"] is not None:
        node.record_members(state, view["members"])
    return view


def unit_restarts(node):
    """Will systemd restart the wrapped unit after its main process failed? Restart= other than ``no`` and no job
    on the unit (a requested stop or restart runs ExecStopPost inside its stop job; a crash has none)."""
    out = subprocess.run(["systemctl", "show", "--property=Restart", "--property=Job", node.unit], check=False,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True).stdout
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return props.get("Restart", "no") not in ("", "no") and not props.get("Job")


def unit_active(node):
    return subprocess.run(["systemctl", "is-active", "--quiet", node.unit], check=False).returncode == 0


# --------------------------------------------------------------------------------------------- snapshots

def snapshots(node):
    """Scanned snapshot entries of this unit (the one sidecar schema and the helper's old ``<base>.json``)."""
    return scan(node.snap_dir, SNAPSHOT_PREFIX)


def copy_candidate(node):
    """The disk copy as a restore source (``kind: copy``), or None: verified when its WAL still matches its
    metadata (what the save wrote) and its revision is known."""
    cur = node.current_copy()
    meta = node.copy_meta()
    if not cur or not meta or meta.get("revision") is None:
        return None
    cluster = (meta.get("wal") or {}).get("cluster_id")
    return dict(kind="copy", name=os.path.basename(cur), revision=meta["revision"],
                verified=node.wal(cur) == meta.get("wal"), path=os.path.join(cur, "member", "snap", "db"),
                time=meta.get("time"), cluster_id=format_id(int(cluster, 16)) if cluster else None)


def restore_source(node, state):
    """What a single-member crash restores: the core's choice among the verified snapshots and the disk copy
    (highest verified revision of this cluster - never by time); a snapshot must also pass a full verification
    (trailer + sidecar sha256). Returns ``(entry or None, loss)``."""
    entries = [dict(e, kind="snapshot") for e in snapshots(node)]
    copy = copy_candidate(node)
    if copy is not None:
        entries.append(copy)
    known = state.get("last_known") or {}
    while True:
        choice = choose_restore_source(entries, cluster_id=state.get("cluster_id"),
                                       min_revision=known.get("revision"))
        source = choice["source"]
        if source is None:
            return None, None
        try:
            if source["kind"] == "snapshot":
                verify_file(source["path"])
            return source, choice["loss"]
        except SnapshotFileError as exc:
            node.log("snapshot %s failed re-verification (%s); skipping it" % (source["path"], exc),
                     {"event": "snapshot-bad", "path": source["path"]})
            entries = [e for e in entries if e is not source]


def take_snapshot(node, state):
    """Snapshot over the API from this member: streamed to a part file, trailer verified, fsynced, renamed, the
    sidecar written (``_snapstore.save_stream``); then checked by etcdutl and the retention applied."""
    own = node.own_client_urls()[0]
    cli = client(node, [own])
    try:
        node.record_members(state, cli.member_list(endpoint=own)["members"])
    except EtcdError as exc:
        node.log("snapshot: could not read the member list: %s" % exc)
    status = cli.status(own)
    state["cluster_id"] = format_id(status["cluster_id"])
    state["member_id"] = format_id(status["member_id"])
    os.makedirs(node.snap_dir, mode=0o700, exist_ok=True)
    with lock_dir(node.snap_dir, SNAPSHOT_PREFIX):  # the store's writer lock (etcd_snapshot takes it too)
        now = utc_now()
        base = snapshot_basename(SNAPSHOT_PREFIX, now, status["revision"])
        chunks = cli.snapshot(own, timeout=int(node.cfg.get("snapshot_timeout", 300)))
        sidecar = save_stream(chunks, node.snap_dir, base, dict(
            revision=status["revision"], cluster_id=state["cluster_id"], member_id=format_id(status["member_id"]),
            member_name=node.member["name"], etcd_version=status["version"], created=now, endpoint=own))
        path = os.path.join(node.snap_dir, base)
        try:
            snapshot_status(node.cfg["etcdutl"], path)
        except RestoreError as exc:
            for leftover in (path, path + ".json"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
            raise Fail("snapshot %s: %s" % (base, exc))
        node.note_revision(state, status["revision"], "snapshot")
        node.save_state(state)
        node.log("snapshot %s verified (revision %d, %d bytes)" % (base, status["revision"], sidecar["size"]),
                 {"event": "snapshot", "name": base, "revision": status["revision"]})
        plan = plan_prune(snapshots(node), policy_from_ramdisk(node.cfg.get("retention")), now)
        prune(node.snap_dir, plan)
    for item in plan["prune"]:
        node.log("retention: removed %s (%s)" % (item["name"], item["reason"]))


# ------------------------------------------------------------------------------------------- membership

def try_promote(node, state, wait_timeout=10):
    """Promote this member (via the leader) if it is a learner left by a rejoin that timed out."""
    cli = client(node, node.own_client_urls()[:1] + node.other_endpoints(state))
    try:
        me, dummy = match_member(cli.member_list()["members"], None, node.member["peer_urls"])
        if me is None or not me["is_learner"]:
            return False
        promote_learner(cli, me["id"], wait_timeout=wait_timeout)
    except EtcdError as exc:
        node.log("learner not promoted yet: %s" % exc)
        return False
    node.log("promoted learner %s" % describe(me), {"event": "promoted", "member_id": format_id(me["id"])})
    return True


def rejoin(node, state):
    """Crash of one member of a cluster with a quorum elsewhere: remove the old member (guarded), add this one as
    a learner, run a temporary etcd on the empty tmpfs until the learner is promoted via the leader."""
    others = healthy(node, node.other_endpoints(state))
    if not others:
        raise Fail("no healthy member left to rejoin through. " + DR_HINT)
    timeout = float(node.cfg.get("rejoin_timeout", 240))
    # one deadline for the removal, the re-add and the promotion (the start timeout covers it: docs/ramdisk.md)
    deadline = time.monotonic() + timeout

    def remaining(share=1.0):
        return max(min(timeout * share, deadline - time.monotonic()), 1.0)

    cli = client(node, others)
    name, peer_urls = node.member["name"], node.member["peer_urls"]
    members = cli.member_list()["members"]
    # this member's recorded id first (the host may have a new address now), else its peer URLs
    mine = set(int(i, 16) for i in [state.get("member_id")] if i)
    old = ([mem for mem in members if mem["id"] in mine] or [None])[0]
    if old is None:
        old, conflict = match_member(members, None, peer_urls)
        if conflict:
            raise Fail("cannot tell which member this is: %s" % conflict)
    if old is not None:
        # recorded first: a rejoin interrupted after this removal is not mistaken for a deliberate removal
        state["rejoin_removed"] = sorted(set((state.get("rejoin_removed") or []) + [format_id(old["id"])]))
        node.save_state(state)
        node.log("removing the crashed member %s from the cluster" % describe(old),
                 {"event": "member-remove", "member_id": format_id(old["id"])})
        remove_member(cli, old["id"], wait_timeout=remaining(0.25))
    added = add_learner(cli, name, peer_urls, learner=True, wait_timeout=remaining(0.25))
    new_id = added["member"]["id"]
    state["member_id"] = format_id(new_id)
    state.pop("rejoin_removed", None)
    node.save_state(state)
    node.log("re-added %s as learner %s" % (name, format_id(new_id)),
             {"event": "member-add-learner", "member_id": format_id(new_id)})
    promoted = run_temporary_learner(node, added["initial_cluster"], cli, new_id, remaining())
    if promoted:
        node.log("member %s caught up and was promoted to a voting member" % format_id(new_id),
                 {"event": "promoted", "member_id": format_id(new_id)})
    else:
        node.log("member %s is still a learner after the rejoin timeout; the snapshot timer promotes it once caught "
                 "up" % format_id(new_id), {"event": "promote-pending", "member_id": format_id(new_id)})


def _learner_command(node, initial_cluster, run_dir):
    overrides = {"data-dir": node.data_dir, "initial-cluster": initial_cluster, "initial-cluster-state": "existing"}
    if node.cfg.get("etcd_config"):
        conf_path = os.path.join(run_dir, "join.conf.json")
        write_json_atomic(conf_path, dict(node.cfg["etcd_config"], **overrides))
        os.chown(conf_path, node.uid, node.gid)
        return [node.cfg["etcd"], "--config-file", conf_path]
    return [node.cfg["etcd"]] + list(node.cfg.get("etcd_args") or []) + ["--%s=%s" % kv for kv in overrides.items()]


def run_temporary_learner(node, initial_cluster, cli, member_id, timeout):
    """Run etcd as the etcd user on the empty tmpfs (``initial-cluster-state: existing``) while the core promotes
    the learner via the leader (retried until it caught up, up to ``timeout``); stop it. Returns whether the
    promotion happened."""
    node.retire_copy("crash: replaced by a learner rejoin")
    node.clear_data_dir()
    marker = os.path.join(node.data_dir, JOIN_MARKER)
    with open(marker, "w") as handle:
        handle.write("%s\n" % format_id(member_id))
    os.makedirs(node.run_dir, mode=0o755, exist_ok=True)
    os.chmod(node.run_dir, 0o755)
    run_dir = os.path.join(node.run_dir, node.unit)
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    os.chown(run_dir, node.uid, node.gid)
    cmd = _learner_command(node, initial_cluster, run_dir)
    env = dict((k, v) for k, v in os.environ.items() if k != "NOTIFY_SOCKET")
    log_path = os.path.join(run_dir, "join.log")
    node.log("starting a temporary learner: %s" % " ".join(cmd))
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf,  # pylint: disable=consider-using-with
                                stderr=subprocess.STDOUT, user=node.uid, group=node.gid, extra_groups=[], cwd="/")

        def sleep(seconds):
            if proc.poll() is not None:
                raise Fail("the temporary learner exited with %s; see %s" % (proc.returncode, log_path))
            try:
                proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                pass

        try:
            promote_learner(cli, member_id, wait_timeout=timeout, sleep=sleep)
            promoted = True
            # recorded before the temporary member stops: an interruption from here on keeps its data
            state = node.load_state()
            state["rejoin_promoted"] = format_id(member_id)
            node.save_state(state)
        except EtcdError as exc:
            node.log("promotion of the learner failed: %s" % exc)
            promoted = False
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=LEARNER_STOP_WAIT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    if not node.has_data():
        raise Fail("the temporary learner left no WAL in %s; see %s" % (node.data_dir, log_path))
    os.unlink(marker)
    state = node.load_state()
    if state.pop("rejoin_promoted", None):
        node.save_state(state)
    node.restore_extras(node.stale_copy())
    node.chown_tree(node.data_dir)
    return promoted


# ----------------------------------------------------------------------------------------------- restore

def restore_into_tmpfs(node, snapshot, initial_cluster, token, skip_hash_check=False):
    """``etcdutl snapshot restore`` into a temporary dir inside the (empty) tmpfs, owned by the etcd user, moved
    in (``_restore.restore``: the argv and the swap-in are the core's)."""
    params = restore_params(name=node.member["name"], initial_cluster=initial_cluster, initial_cluster_token=token,
                            initial_advertise_peer_urls=node.member["peer_urls"], skip_hash_check=skip_hash_check)
    try:
        restore(node.cfg["etcdutl"], snapshot, node.data_dir, params, prepare=node.chown_tree)
    except RestoreError as exc:
        raise Fail(str(exc))
