# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Scheduled backups, restore drills and off-site pulls of any etcd cluster (disk-backed or RAM-disk), on the node,
without Ansible. They take the backup config of the etcdkit.etcd.etcd_backup role
(``/etc/etcdkit/backup/<unit id>.json``, 0600) instead of the RAM-disk config:

  backup         verified snapshot over the API into the one snapshot store (``_snapstore``: trailer checked,
                 fsynced, renamed, sidecar etcdkit.snapshot/1 with the revision etcdutl reads from the file and
                 the key count at it), retention (``_retention``); skipped when the revision has not moved.
  drill          restore the newest verified backup into a scratch dir with etcdutl (etcd has no API for a
                 restore: it is a file operation), start a temporary etcd on loopback on it, check revision and
                 key count against the sidecar and the key space against the live cluster at that revision;
                 always stop that etcd and remove the scratch dir.
  offsite        (on the off-site host, ``<unit id>-offsite.json``) pull new snapshots of every member with
                 rsync over SSH (read-only, forced command on the member), verify them, apply its own retention.
  backup-status  JSON: the store, the last backup and the last drill.

Every run writes a state file and node_exporter textfile metrics (``backup_rules``: the plan's contract).
On a RAM-disk member the store is the RAM-disk helper's snapshot directory (prefix ``snapshot``), so its crash
restore and the DR playbook read the same snapshots; the helper's own snapshot timer then defers to this one
(``defers_ramdisk_snapshots``).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import fcntl
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient
from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import member_client_urls
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError, EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import (
    chown_tree, fsync_dir, iso_utc, read_json, utc_now, write_json_atomic,
    write_text_atomic,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._keyspace import (
    CompactedError, key_count, keyspace_digest,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._restore import (
    RestoreError, restore, restore_params, snapshot_status,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._retention import normalize_policy
from ansible_collections.etcdkit.etcd.plugins.module_utils._snapstore import (
    SnapshotFileError, lock_dir, newest_verified, plan_prune, prune, save_stream, scan, snapshot_basename,
    verify_file,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id, normalize_endpoint

from . import backup_rules as rules

PREFIX = "snapshot"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
CONFIG_DIR = "/etc/etcdkit/backup"
VERBS = ("backup", "drill", "offsite", "backup-status")


class BackupFail(Exception):
    """A backup, drill or pull that cannot go on; the verb exits 1 with this message."""


def log(msg):
    print("etcdkit-backup: %s" % msg, file=sys.stderr)
    sys.stderr.flush()


def unit_id(unit):
    base = unit[:-len(".service")] if unit.endswith(".service") else unit
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in base)


def defers_ramdisk_snapshots(unit, config_dir=CONFIG_DIR):
    """Does a backup timer take the scheduled snapshots of this unit? (Then the RAM-disk helper's snapshot
    timer only promotes a learner and keeps its member list: one mechanism snapshots a cluster.)"""
    cfg = read_json(os.path.join(config_dir, unit_id(unit) + ".json"))
    return bool(cfg and cfg.get("kind") == "backup" and cfg.get("backup_enabled", True)
                and cfg.get("ramdisk_takeover"))


def ramdisk_bookkeeping(node, state, cli):
    """What the RAM-disk helper's snapshot job also learns when the backup timer takes the snapshots: the member
    list (other members to rejoin through), the cluster id and a revision watermark."""
    own = node.own_client_urls()[0]
    try:
        listing = cli.member_list(endpoint=own)
        state["members"] = dict((m["name"] or format_id(m["id"]), m["client_urls"]) for m in listing["members"]
                                if not m["is_learner"])
        status = cli.status(own)
        state["cluster_id"] = format_id(status["cluster_id"])
        node.note_revision(state, status["revision"], "snapshot-timer")
    except EtcdError as exc:
        node.log("snapshot timer: could not read the member list: %s" % exc)
        return
    node.save_state(state)


# ------------------------------------------------------------------------------------------------- helpers

class Job(object):
    """One backup config: paths, the core client, state and metrics."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.cluster = cfg["cluster_name"]
        self.member = cfg.get("member_name") or socket.gethostname()
        self.state_dir = cfg["state_dir"]
        self.textfile_dir = cfg.get("textfile_dir") or ""

    def ramdisk(self):
        return read_json(self.cfg.get("ramdisk_config") or "/nonexistent") or {}

    # store: the RAM-disk helper's snapshot dir when it wraps this unit (one store), else the configured one
    def store(self):
        ramdisk = self.ramdisk()
        if ramdisk.get("snapshot_dir"):
            return ramdisk["snapshot_dir"]
        return self.cfg["store_dir"]

    def defers_to_ramdisk(self):
        """RAM-disk mode was added after the role ran: the helper's own timer keeps taking the snapshots (into the
        same store) until the role runs again and takes over with the RAM-disk schedule."""
        return bool(self.ramdisk().get("snapshot_dir")) and not self.cfg.get("ramdisk_takeover")

    def client(self, endpoints=None, timeout=10):
        conn = self.cfg.get("client") or {}
        return EtcdClient(endpoints or self.cfg["endpoints"], ca_cert=conn.get("ca_cert") or None,
                          client_cert=conn.get("client_cert") or None, client_key=conn.get("client_key") or None,
                          user=conn.get("user") or None, password=conn.get("password") or None, timeout=timeout)

    def path(self, name):
        return os.path.join(self.state_dir, name)

    def load(self, name):
        return read_json(self.path(name)) or {}

    def save(self, name, data):
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        write_json_atomic(self.path(name), data)

    def interval(self, key):
        """Seconds between two runs of the timer's OnCalendar schedule (``<key>_on_calendar``), from
        systemd-analyze; the config's ``<key>_interval`` when that is not available."""
        expr = self.cfg.get(key + "_on_calendar")
        if expr:
            try:
                proc = subprocess.run(["systemd-analyze", "calendar", "--iterations=2", expr],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      universal_newlines=True, timeout=30, env=dict(os.environ, TZ="UTC"),
                                      check=False)
                seconds = rules.calendar_interval(proc.stdout)
                if seconds:
                    return seconds
            except (OSError, subprocess.SubprocessError):
                pass
        return self.cfg.get(key + "_interval")

    def write_metrics(self, concern, spec, values):
        if not self.textfile_dir:
            return
        os.makedirs(self.textfile_dir, mode=0o755, exist_ok=True)
        path = os.path.join(self.textfile_dir, rules.metrics_file_name(self.cluster, concern))
        write_text_atomic(path, rules.render_metrics(spec, values, self.cluster, self.member), 0o644)

    def owner(self):
        user = self.cfg.get("user")
        if not user or os.geteuid() != 0:
            return None, None
        return pwd.getpwnam(user).pw_uid, grp.getgrnam(self.cfg.get("group") or user).gr_gid


def _entry_summary(entry):
    return dict(name=entry["name"], path=entry["path"], revision=entry["revision"], verified=entry["verified"],
                cluster_id=entry.get("cluster_id"), created=iso_utc(entry["created"]),
                size=(entry.get("sidecar") or {}).get("size"))


# -------------------------------------------------------------------------------------------------- backup

def take_backup(job, force=False):
    """The backup verb: returns the result dict (``skipped``, ``path``, ``revision``, ...)."""
    store = job.store()
    os.makedirs(store, mode=0o700, exist_ok=True)
    own = job.cfg["endpoints"][0]
    cli = job.client([own], timeout=10)
    status = cli.status(own)
    cluster_id = format_id(status["cluster_id"])
    entries = [e for e in scan(store, PREFIX) if e.get("cluster_id") in (None, cluster_id)]
    newest = newest_verified(entries)
    action, reason = rules.backup_decision(status["revision"], newest["revision"] if newest else None, force)
    if job.defers_to_ramdisk() and not force:
        if newest is None:
            raise BackupFail("the RAM-disk helper's snapshot timer takes the snapshots of this unit and %s holds no "
                             "verified one yet; run playbooks/site.yml again so that the backup timer takes over" %
                             store)
        action, reason = rules.SKIP, ("the RAM-disk helper's snapshot timer takes the snapshots of this unit until "
                                      "playbooks/site.yml runs again (newest: revision %d)" % newest["revision"])
    if action == rules.SKIP:
        log("backup skipped: %s" % reason)
        side = newest.get("sidecar") or {}
        result = dict(skipped=True, reason=reason, path=newest["path"], sidecar_path=newest["path"] + ".json",
                      revision=newest["revision"], size=side.get("size"), sha256=side.get("sha256"),
                      cluster_id=cluster_id, store=store)
        if job.defers_to_ramdisk():  # the store is as fresh as the helper's newest snapshot, not as now
            result["success_ts"] = (newest["created"] - EPOCH).total_seconds()
        return result
    with lock_dir(store, PREFIX):
        now = utc_now()
        base = snapshot_basename(PREFIX, now, status["revision"])
        path = os.path.join(store, base)
        chunks = cli.snapshot(own, timeout=int(job.cfg.get("snapshot_timeout", 300)))
        sidecar = save_stream(chunks, store, base, dict(
            revision=status["revision"], cluster_id=cluster_id, member_id=format_id(status["member_id"]),
            member_name=job.member, etcd_version=status["version"], created=now, endpoint=own,
            cluster_name=job.cluster))
        try:
            # etcdutl reads the revision from the file (writes may land between the status and the stream)
            file_status = snapshot_status(job.cfg["etcdutl"], path)
        except RestoreError as exc:
            for leftover in (path, path + ".json"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
            raise BackupFail("etcdutl rejected the new snapshot %s: %s" % (path, exc))
        sidecar["db_revision"] = file_status["revision"]
        sidecar["revision"] = file_status["revision"]
        sidecar["api_revision"] = status["revision"]
        try:
            sidecar["key_count"] = key_count(cli, file_status["revision"], endpoint=own)
        except CompactedError:
            sidecar["key_count"] = None  # compacted within seconds: the drill reports the count it finds
        write_json_atomic(path + ".json", sidecar)
        plan = plan_prune(scan(store, PREFIX), normalize_policy(job.cfg.get("retention")), now)
        prune(store, plan)
    for item in plan["prune"]:
        log("retention: removed %s (%s)" % (item["name"], item["reason"]))
    log("backup %s verified (revision %d, %d keys, %d bytes)" % (
        path, sidecar["revision"], sidecar["key_count"] or 0, sidecar["size"]))
    return dict(skipped=False, reason=reason, path=path, sidecar_path=path + ".json", revision=sidecar["revision"],
                size=sidecar["size"], sha256=sidecar["sha256"], key_count=sidecar["key_count"],
                cluster_id=cluster_id, store=store, pruned=[p["name"] for p in plan["prune"]])


def cmd_backup(job, args):
    state = job.load("backup.json")
    now = time.time()
    state["last_attempt_ts"] = now
    state["last_attempt"] = iso_utc()
    try:
        result = take_backup(job, force=args.now)
    except (BackupFail, CoreError, OSError) as exc:
        state["last_error"] = str(exc)
        state["last_ok"] = False
        job.save("backup.json", state)
        job.write_metrics("backup", rules.BACKUP_METRICS,
                          rules.backup_metric_values(state, job.interval("backup")))
        raise BackupFail("backup of %s failed: %s" % (job.cluster, exc))
    state.update(last_ok=True, last_error=None, last_success_ts=result.pop("success_ts", now), last_success=iso_utc(),
                 last_revision=result["revision"], last_size=result["size"], last_path=result["path"],
                 last_skipped=result["skipped"])
    job.save("backup.json", state)
    job.write_metrics("backup", rules.BACKUP_METRICS, rules.backup_metric_values(state, job.interval("backup")))
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    return 0


# --------------------------------------------------------------------------------------------------- drill

def _free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def _ports(cfg_port):
    if cfg_port:
        return int(cfg_port), int(cfg_port) + 1
    return _free_port(), _free_port()


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_drill(job, snapshot=None):
    """Restore a verified backup into a scratch dir and prove it. Returns the result dict (``ok`` ...); raises
    BackupFail when there is nothing to drill or the backup is bad (corrupt, etcdutl refuses it, etcd does not
    start on it)."""
    drill_cfg = job.cfg.get("drill") or {}
    store = job.store()
    live_cluster = None
    try:
        own = job.cfg["endpoints"][0]
        live_cluster = format_id(job.client([own], timeout=5).status(own)["cluster_id"])
    except (EtcdError, IndexError, KeyError):
        pass
    if snapshot:
        source = snapshot
    else:
        entries = scan(store, PREFIX)
        # the live cluster's newest (after a DR the cluster id changed: older backups are another cluster's)
        newest = newest_verified(entries, live_cluster) if live_cluster else None
        newest = newest or newest_verified(entries)
        if newest is None:
            raise BackupFail("no verified backup in %s to drill" % store)
        source = newest["path"]
    try:
        checked = verify_file(source)
    except SnapshotFileError as exc:
        raise BackupFail("the backup %s is corrupt: %s" % (source, exc))
    sidecar = checked["sidecar"] or {}
    if checked["sidecar_format"] != "v1":
        raise BackupFail("the backup %s has no etcdkit.snapshot/1 sidecar: the drill cannot compare it" % source)
    base = drill_cfg.get("scratch_dir") or "/var/tmp"
    os.makedirs(base, mode=0o755, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="etcdkit-drill-%s-" % job.cluster, dir=base)
    proc = None
    try:
        uid, gid = job.owner()
        if uid is not None:
            os.chown(scratch, uid, gid)
        data_dir = os.path.join(scratch, "data")
        client_port, peer_port = _ports(drill_cfg.get("port"))
        client_url = "http://127.0.0.1:%d" % client_port
        peer_url = "http://127.0.0.1:%d" % peer_port
        token = "etcdkit-drill-%s" % os.path.basename(scratch)
        params = restore_params(name="drill", initial_cluster="drill=%s" % peer_url, initial_cluster_token=token,
                                initial_advertise_peer_urls=[peer_url])
        # etcd has no API for a restore: it is a file operation (etcdutl snapshot restore, through the core)
        try:
            restore(job.cfg["etcdutl"], source, data_dir, params,
                    prepare=(lambda target: chown_tree(target, uid, gid)) if uid is not None else None)
        except RestoreError as exc:
            raise BackupFail("etcdutl could not restore %s: %s" % (source, exc))
        quota = max(int(drill_cfg.get("quota_backend_bytes") or 0), 2 * checked["size"], 2147483648)
        argv = [job.cfg["etcd"], "--name", "drill", "--data-dir", data_dir,
                "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                "--initial-cluster", "drill=%s" % peer_url, "--initial-cluster-token", token,
                "--quota-backend-bytes", str(quota), "--log-level", "warn"]
        log_path = os.path.join(scratch, "etcd.log")
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith("ETCD") and k != "NOTIFY_SOCKET")
        with open(log_path, "w") as logf:
            kwargs = dict(user=uid, group=gid, extra_groups=[]) if uid is not None else {}
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=logf,  # pylint: disable=consider-using-with
                                    stderr=subprocess.STDOUT, cwd=scratch, **kwargs)
        conn = job.cfg.get("client") or {}
        temp = EtcdClient([client_url], user=conn.get("user") or None, password=conn.get("password") or None,
                          timeout=10)
        deadline = time.time() + float(drill_cfg.get("timeout", 120))
        status = None
        while status is None:
            if proc.poll() is not None:
                raise BackupFail("the temporary etcd on %s exited with %s: %s" % (
                    source, proc.returncode, _tail(log_path)))
            try:
                status = temp.status(client_url, timeout=2)
            except EtcdError:
                if time.time() > deadline:
                    raise BackupFail("the temporary etcd on %s did not answer within %ss: %s" % (
                        source, drill_cfg.get("timeout", 120), _tail(log_path)))
                time.sleep(0.2)
        revision = status["revision"]
        restored = dict(revision=revision, key_count=key_count(temp, revision, endpoint=client_url),
                        digest=keyspace_digest(temp, revision, endpoint=client_url))
        live = {}
        if live_cluster and sidecar.get("cluster_id") and sidecar["cluster_id"] != live_cluster:
            live["foreign"] = True
        else:
            _live_digest(job, revision, live)
        verdict = rules.drill_verdict(sidecar, restored, live)
        return dict(ok=verdict["ok"], problems=verdict["problems"], checks=verdict["checks"],
                    keyspace=verdict["keyspace"], source=source, revision=revision, key_count=restored["key_count"],
                    sha256=checked["sha256"], snapshot_created=sidecar.get("created"),
                    snapshot_member=sidecar.get("member_name"), live_error=live.get("error"))
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(scratch, ignore_errors=True)


def _cluster_client(job):
    """A client of the live cluster: this member's endpoints first, then the client URLs of the other members from
    the member list (the config names this member only, so it does not change when members join or leave)."""
    own = job.client()
    endpoints = list(job.cfg["endpoints"])
    try:
        members = own.member_list()["members"]
    except EtcdError:
        return own
    for member in members:
        endpoints.extend(member_client_urls(member, set(normalize_endpoint(e) for e in endpoints)))
    return job.client(endpoints)


def _live_digest(job, revision, live):
    """The live cluster's key-space digest at ``revision`` into ``live`` (or why it is not comparable)."""
    try:
        live["digest"] = keyspace_digest(_cluster_client(job), revision)
    except CompactedError:
        live["compacted"] = True
    except EtcdError as exc:
        live["compacted"] = any(isinstance(e, CompactedError) for e in getattr(exc, "errors", []) or [])
        live["error"] = str(exc)


def _tail(path, size=800):
    try:
        with open(path) as handle:
            return handle.read()[-size:].strip()
    except (IOError, OSError):
        return ""


def cmd_drill(job, args):
    state = job.load("drill.json")
    now = time.time()
    state.update(last_attempt_ts=now, last_attempt=iso_utc())
    try:
        result = run_drill(job, args.snapshot or None)
    except (BackupFail, CoreError, OSError) as exc:
        result = dict(ok=False, problems=[str(exc)], source=args.snapshot or None)
    state["last_ok"] = bool(result["ok"])
    state["last_result"] = result
    if result["ok"]:
        state.update(last_success_ts=now, last_success=iso_utc(), last_success_revision=result["revision"],
                     last_success_source=result["source"])
        # "last proven restorable": time, revision, source
        state["last_proven_restorable"] = dict(time=iso_utc(), revision=result["revision"],
                                               source=result["source"], keyspace=result["keyspace"])
    job.save("drill.json", state)
    job.write_metrics("drill", rules.DRILL_METRICS, rules.drill_metric_values(state, job.interval("drill")))
    print(json.dumps(result, indent=2, sort_keys=True, default=str))
    if not result["ok"]:
        raise BackupFail("restore drill of %s FAILED: %s" % (job.cluster, "; ".join(result["problems"])))
    log("restore drill passed: %s (revision %s, keyspace %s)" % (result["source"], result["revision"],
                                                                 result["keyspace"]))
    return 0


# ------------------------------------------------------------------------------------------------- offsite

def _ssh(job, source):
    cfg = job.cfg
    if cfg.get("rsh"):  # another remote shell (a wrapper around ssh); it gets the same arguments as ssh would
        return cfg["rsh"]
    return " ".join([
        "ssh", "-i", cfg["ssh_key"], "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=%s" % cfg["known_hosts"],
        "-o", "ConnectTimeout=10", "-p", str(source.get("port") or 22)])


def _rsync(job, argv):
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=int(job.cfg.get("timeout", 1800)), check=False)
    return proc.returncode, proc.stdout, proc.stderr


def pull_member(job, source):
    """Pull the new snapshots of one member into ``<dest>/<member>/``, verify them, apply the retention."""
    dest = os.path.join(job.cfg["dest_dir"], source["member"])
    os.makedirs(dest, mode=0o700, exist_ok=True)
    remote = "%s@%s:" % (source.get("user") or "root", source["host"])
    rc, out, err = _rsync(job, ["rsync", "--list-only", "-e", _ssh(job, source), remote + "/"])
    if rc != 0:
        raise BackupFail("cannot list the snapshots of %s: %s" % (source["member"], err.strip()[-500:]))
    local = os.listdir(dest)
    wanted = rules.offsite_selection(rules.parse_rsync_list(out), local, PREFIX)
    fetched, rejected = [], []
    if wanted:
        incoming = os.path.join(dest, ".incoming")
        shutil.rmtree(incoming, ignore_errors=True)
        os.makedirs(incoming, mode=0o700)
        listing = os.path.join(job.state_dir, ".files-from")
        with open(listing, "w") as handle:
            handle.write("".join(n + "\n" for n in wanted))
        rc, out, err = _rsync(job, ["rsync", "-t", "--chmod=F600", "--files-from", listing, "-e", _ssh(job, source),
                                    remote + "/", incoming + "/"])
        os.unlink(listing)
        if rc != 0:
            shutil.rmtree(incoming, ignore_errors=True)
            raise BackupFail("rsync from %s failed: %s" % (source["member"], err.strip()[-500:]))
        for name in wanted:
            if not name.endswith(".db"):
                continue
            try:
                verify_file(os.path.join(incoming, name))
            except SnapshotFileError as exc:
                rejected.append(dict(name=name, reason=str(exc)))
                log("off-site: rejected %s of %s: %s" % (name, source["member"], exc))
                continue
            for part in (name, name + ".json"):
                os.rename(os.path.join(incoming, part), os.path.join(dest, part))
            fetched.append(name)
        shutil.rmtree(incoming, ignore_errors=True)
        fsync_dir(dest)
    plan = plan_prune(scan(dest, PREFIX), normalize_policy(job.cfg.get("retention")), utc_now())
    prune(dest, plan)
    newest = newest_verified(scan(dest, PREFIX))
    return dict(member=source["member"], fetched=fetched, rejected=rejected,
                pruned=[p["name"] for p in plan["prune"]], newest=_entry_summary(newest) if newest else None)


def cmd_offsite(job, args):  # pylint: disable=unused-argument
    state = job.load("offsite.json")
    results, failures = [], []
    for source in job.cfg.get("sources") or []:
        try:
            res = pull_member(job, source)
            results.append(res)
            state.setdefault("members", {})[source["member"]] = dict(
                last_success=iso_utc(), newest=res["newest"], rejected=res["rejected"])
            if res["rejected"]:
                failures.append("%s: %d snapshot(s) failed verification" % (source["member"], len(res["rejected"])))
        except (BackupFail, OSError, subprocess.SubprocessError) as exc:
            failures.append("%s: %s" % (source["member"], exc))
            state.setdefault("members", {}).setdefault(source["member"], {})["last_error"] = str(exc)
    state.update(last_attempt=iso_utc(), last_failures=failures)
    job.save("offsite.json", state)
    print(json.dumps(dict(results=results, failures=failures), indent=2, sort_keys=True, default=str))
    if failures and not results:
        raise BackupFail("off-site pull failed: %s" % "; ".join(failures))
    if failures:
        raise BackupFail("off-site pull incomplete: %s" % "; ".join(failures))
    return 0


def cmd_status(job, args):  # pylint: disable=unused-argument
    out = dict(cluster=job.cluster, member=job.member, state=dict(backup=job.load("backup.json"),
                                                                  drill=job.load("drill.json"),
                                                                  offsite=job.load("offsite.json")))
    if job.cfg.get("kind") == "backup":
        store = job.store()
        out["store"] = store
        out["snapshots"] = [_entry_summary(e) for e in scan(store, PREFIX)]
    print(json.dumps(out, indent=2, sort_keys=True, default=str))
    return 0


# ------------------------------------------------------------------------------------------------- wiring

def add_arguments(sub_parser, verb):
    if verb == "backup":
        sub_parser.add_argument("--now", action="store_true",
                                help="take a snapshot even if the revision has not moved")
    elif verb == "drill":
        sub_parser.add_argument("--snapshot", default="", help="drill this file instead of the newest backup")


def run(verb, cfg, args):
    """Entry of the backup verbs (from cli.main): exit code."""
    kinds = {"backup": ("backup",), "drill": ("backup",), "offsite": ("offsite",),
             "backup-status": ("backup", "offsite")}
    job = Job(cfg)
    if cfg.get("kind") not in kinds[verb]:
        log("FAILED %s: %s is not a %s config" % (verb, cfg.get("kind"), "/".join(kinds[verb])))
        return 2
    os.makedirs(job.state_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(job.state_dir, ".lock"), "w") as lock:
        if verb != "backup-status":
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return {"backup": cmd_backup, "drill": cmd_drill, "offsite": cmd_offsite,
                    "backup-status": cmd_status}[verb](job, args)
        except (BackupFail, CoreError) as exc:
            log("FAILED %s: %s" % (verb, exc))
            return 1
