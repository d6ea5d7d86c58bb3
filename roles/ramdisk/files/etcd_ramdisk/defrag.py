# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""etcdkit-defrag: the node side of the defragmentation timer (etcdkit.etcd.etcd role, docs/maintenance.md).

Runs without Ansible on a member, on the same core as the module etcd_defrag (``_defrag.run_defrag``): health gate,
the compaction of the cluster config, the size rule for THIS member only (``member`` in the config); when this
member leads, its leadership goes to a healthy, caught-up voting member first, then it is defragmented and must be
healthy and caught up again. Every member has its own timer at its own time (which depends on the member only, not
on the other members); before defragmenting, a run takes the cluster's defragmentation turn (``_defrag.DefragTurn``,
a compare-and-swap on one key), waiting while another member holds it, so two members never defragment at the same
moment. When the data dir is a tmpfs (RAM disk), a member without room for the defragmented copy of its database is
refused.

  etcdkit-defrag --config /etc/etcdkit/defrag/<cluster>.json [--check] [--force]

Config (JSON, 0600, written by the role): ``cluster``, ``member``, ``data_dir``, ``client`` (endpoints, ca_cert,
client_cert, client_key, user, password, timeout), ``rule`` (min_free_bytes, free_bytes_trigger, min_free_ratio,
quota_usage_ratio, quota_bytes), ``compact_keep_revisions`` (null: no compaction), ``wait_timeout``,
``max_raft_lag``, ``move_leader``, ``space_reserve_bytes``, ``state_file`` (the last result, JSON),
``turn_hold_seconds`` (the turn expires after that if a run dies holding it) and ``turn_wait_seconds`` (how long a
run waits for another member's turn; both default to 4 x wait_timeout + 600). ``client.endpoints``: this member's
own client URL is enough (the other members are found in the member list).
Exit status 0: done or nothing to do; 1: refused or failed (the message says why, on stderr and in the state file).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import argparse
import fcntl
import json
import os
import sys

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient
from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag import DEFAULT_SPACE_RESERVE, DefragTurn, run_defrag
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import iso_utc, write_json_atomic

from .node import fstype

CLIENT_KEYS = ('endpoints', 'ca_cert', 'client_cert', 'client_key', 'user', 'password', 'timeout')


def tmpfs_free_bytes(data_dir, mountinfo="/proc/self/mountinfo"):
    """Free bytes of the tmpfs mounted on ``data_dir`` (the RAM disk), None when it is not a tmpfs mount."""
    if fstype(data_dir, mountinfo) != "tmpfs":
        return None
    st = os.statvfs(data_dir)
    return st.f_bavail * st.f_frsize


def summary(result):
    """One line for the journal."""
    if not result.get("members"):
        return "nothing planned"
    parts = []
    for m in result["members"]:
        if m.get("defragmented"):
            parts.append("%s defragmented %s -> %s bytes in %ss%s" % (
                m["name"], m["before"]["db_size"], (m.get("after") or {}).get("db_size"), m["seconds"],
                " (leadership moved to %s first)" % m["moved_leadership_to"] if m.get("moved_leadership_to") else ""))
        elif m.get("defrag"):
            parts.append("%s planned" % m["name"])
        elif m["reasons"] != ["not selected (members)"]:
            parts.append("%s skipped: %s" % (m["name"], "; ".join(m["reasons"])))
    if result.get("compaction"):
        c = result["compaction"]
        done = "done" if c.get("compacted") else c.get("reason") or "not needed"
        parts.insert(0, "compaction to %s: %s" % (c.get("target"), done))
    if result.get("turn_waited_for"):
        parts.insert(0, "waited for the defragmentation turn of %s" % ", ".join(result["turn_waited_for"]))
    return "; ".join(parts) or "nothing to do"


def run(cfg, check=False, force=False):
    """One run; returns (exit status, state dict)."""
    member = cfg["member"]
    free = tmpfs_free_bytes(cfg["data_dir"]) if cfg.get("data_dir") else None
    result = {"changed": False}
    state = {"time": iso_utc(), "cluster": cfg.get("cluster"), "member": member, "check": check,
             "tmpfs_free_bytes": free, "ok": False}
    try:
        client = EtcdClient(**dict((k, cfg["client"][k]) for k in CLIENT_KEYS if cfg["client"].get(k)))
        wait_timeout = float(cfg.get("wait_timeout", 120))
        turn = DefragTurn(client, member, hold_seconds=float(cfg.get("turn_hold_seconds") or wait_timeout * 4 + 600),
                          wait_seconds=float(cfg.get("turn_wait_seconds") or wait_timeout * 4 + 600))
        run_defrag(client, rule=cfg.get("rule"), force=force or bool(cfg.get("force")),
                   compact_keep_revisions=cfg.get("compact_keep_revisions"), turn=turn,
                   wait_timeout=wait_timeout, max_raft_lag=int(cfg.get("max_raft_lag", 100)),
                   move_leader=bool(cfg.get("move_leader", True)), only=[member], free_space={member: free},
                   reserve_bytes=int(cfg.get("space_reserve_bytes", DEFAULT_SPACE_RESERVE)), check_mode=check,
                   result=result)
        state.update(ok=True, message=summary(result))
        status = 0
    except CoreError as exc:
        state.update(message="FAILED: %s" % exc, error=exc.to_dict())
        status = 1
    state["result"] = result
    return status, state


def main(argv=None):
    top = argparse.ArgumentParser(prog="etcdkit-defrag", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--config", required=True, help="JSON config written by the etcd role")
    top.add_argument("--check", action="store_true", help="plan only: print what would be done")
    top.add_argument("--force", action="store_true", help="defragment this member whatever the rule says")
    args = top.parse_args(argv)
    with open(args.config) as handle:
        cfg = json.load(handle)
    lock_path = cfg.get("lock_file") or (args.config + ".lock")
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError):
            print("etcdkit-defrag[%s]: another run holds %s; not starting a second one" % (cfg["member"], lock_path),
                  file=sys.stderr)
            return 1
        status, state = run(cfg, check=args.check, force=args.force)
    print("etcdkit-defrag[%s/%s]: %s" % (cfg.get("cluster"), cfg["member"], state["message"]), file=sys.stderr)
    print(json.dumps(state, indent=2, sort_keys=True, default=str))
    if cfg.get("state_file") and not args.check:
        write_json_atomic(cfg["state_file"], state, mode=0o644)
    return status
