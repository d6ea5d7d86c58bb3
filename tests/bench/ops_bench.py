#!/usr/bin/env python3
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Cluster operations on the local test hosts, each next to its peer (called by tests/bench/run.sh; not a test).

  ops_bench.py converge --inv DIR --pki DIR --out FILE
  ops_bench.py snapshot --lab LAB --inv DIR --hosts h1,h2,h3 --pki DIR --out FILE [--target-mib 512] [--repeat 3]
  ops_bench.py defrag   --lab LAB --inv DIR --hosts h1,h2,h3 --pki DIR --out FILE [--fragment-mib 256]
  ops_bench.py report   --converge F --snapshot F --defrag F --doc docs/benchmarks.md --command "..."

converge: playbooks/site.yml on freshly booted hosts with a new controller PKI (DIR is removed first), then the same
  playbook again (no-op) and in check mode; wall time, changed count per host, load average.
snapshot: fills the cluster to about --target-mib MiB (the load generator, 100 KiB values, kept), then on the first
  host, alternating which goes first: `etcdctl snapshot save` + `etcdutl snapshot status` (the raw tools) vs the
  `etcdkit.etcd.etcd_snapshot` module (stream, SHA-256 trailer check, sidecar: save + verify), and
  `etcdutl snapshot restore` vs the `etcdkit.etcd.etcd_restore` module. The raw tools are timed on the host (around
  the command, no SSH); the modules are timed around `ansible` on the controller, and an `ansible` run of
  `ansible.builtin.command true` on the same host is timed as the baseline that a module call costs anyway.
snapshot leaves the filled database in place for defrag.
defrag: writes --fragment-mib MiB more and deletes it again, compacts (physical), then runs a bounded client load
  at a fixed rate (200 writes/s, 256-byte values) through the defragmentation of all 3 members by
  `etcdkit.etcd.etcd_defrag` (force: every member, followers first, the leader last, gates between members): time
  per member, and the client's p99/max latency and failed requests during it next to the same load just before.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

from benchdoc import plot_bars, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TH = os.path.join(ROOT, "tests", "testhosts", "testhosts")
LOADGEN = os.path.join(ROOT, "roles", "loadtest", "files", "etcdkit_loadgen.py")
BEGIN = "<!-- BEGIN ops-bench (tests/bench/ops_bench.py writes this section) -->"
END = "<!-- END ops-bench -->"
NODE_PKI = "/etc/etcd/etcd/pki"  # the role's default etcd_cert_dir for etcd_cluster_name=etcd
ETCDUTL = "/usr/local/bin/etcdutl-etcd"  # the role's etcdutl link for etcd_cluster_name=etcd
WORK = "/var/tmp/etcdkit-bench"
MIB = 1024 * 1024


def loadavg():
    return round(os.getloadavg()[0], 2)


def ssh(lab, host, cmd, timeout=900):
    return subprocess.run([TH, "--lab", lab, "ssh", host, cmd], check=True, capture_output=True, text=True,
                          timeout=timeout).stdout


def addresses(lab):
    return {h["name"]: h["address"] for h in json.loads(subprocess.run(
        [TH, "--lab", lab, "status"], check=True, capture_output=True, text=True).stdout)}


def ansible_json(inv, pattern, module, args, timeout=900):
    """One ad-hoc module run with the json callback: (wall seconds, result of the one host)."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    t0 = time.monotonic()
    p = subprocess.run(["ansible", "-i", inv, pattern, "-m", module, "-a", args], capture_output=True, text=True,
                       env=env, timeout=timeout)
    wall = time.monotonic() - t0
    try:
        out = json.loads(p.stdout)
        res = list(out["plays"][0]["tasks"][0]["hosts"].values())[0]
    except (ValueError, KeyError, IndexError):
        raise SystemExit("ansible %s %s failed (rc %d):\n%s\n%s" % (module, args, p.returncode, p.stdout[-3000:],
                                                                    p.stderr[-3000:]))
    if p.returncode != 0 or res.get("failed"):
        raise SystemExit("ansible %s failed: %s" % (module, json.dumps(res)[:3000]))
    return wall, res


def tls_args(pki):
    return ["--cacert", os.path.join(pki, "ca.crt"), "--cert", os.path.join(pki, "admin.crt"), "--key",
            os.path.join(pki, "admin.key")]


def loadgen(endpoints, pki, allowed, *args, popen=False, timeout=1200):
    cmd = [sys.executable, LOADGEN, "--endpoints", ",".join(endpoints), "--allowed-hosts", ",".join(allowed),
           "--progress", "never", "--json"] + tls_args(pki) + [str(a) for a in args]
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit("load generator failed (rc %d): %s %s" % (p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return json.loads(p.stdout)


def endpoint_status(lab, host):
    """The member's `etcdctl endpoint status --cluster` (run on the host through the role's wrapper)."""
    return json.loads(ssh(lab, host, "etcdctl endpoint status --cluster -w json"))


# converge --------------------------------------------------------------------------------------------------------

RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def play(inv, *extra):
    la0 = loadavg()
    t0 = time.monotonic()
    p = subprocess.run(["ansible-playbook", "-i", inv, os.path.join(ROOT, "playbooks", "site.yml")] + list(extra),
                       capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit("site.yml %s failed (rc %d):\n%s" % (" ".join(extra), p.returncode, p.stdout[-4000:]))
    changed = {m.group(1): int(m.group(3)) for m in RECAP.finditer(p.stdout)}
    return {"wall_s": round(wall, 2), "changed": changed, "load_before": la0, "load_after": loadavg()}


def cmd_converge(args):
    shutil.rmtree(args.pki, ignore_errors=True)
    out = {"fresh": play(args.inv), "noop": play(args.inv), "check": play(args.inv, "--check")}
    out["noop_over_fresh"] = round(out["noop"]["wall_s"] / out["fresh"]["wall_s"], 4)
    return out


# snapshot and restore --------------------------------------------------------------------------------------------

def timed_remote(lab, host, *cmds):
    """Run the commands one after the other on the host; seconds of each, timed on the host."""
    script = ("set -e; " + "; ".join('date +%%s.%%N; %s >/dev/null 2>>%s/err' % (c, WORK) for c in cmds)
              + "; date +%s.%N")
    try:
        ts = [float(x) for x in ssh(lab, host, "mkdir -p %s; : > %s/err; %s" % (WORK, WORK, script)).split()]
    except subprocess.CalledProcessError as e:
        raise SystemExit("on %s: %s failed (rc %d): %s" % (host, cmds, e.returncode,
                                                          ssh(lab, host, "cat %s/err" % WORK)[-3000:]))
    return [round(b - a, 3) for a, b in zip(ts, ts[1:])]


def cmd_snapshot(args):
    addrs = addresses(args.lab)
    hosts = args.hosts.split(",")
    eps = ["https://%s:2379" % addrs[h] for h in hosts]
    host, ep = hosts[0], eps[0]
    count = int(args.target_mib * MIB / 102400)
    fill = loadgen(eps, args.pki, [addrs[h] for h in hosts], "--count", count, "--duration", 600, "--clients", 16,
                   "--value-size", 102400, "--keyspace", count, "--prefix", "/bench/fill/", "--no-cleanup")
    st = endpoint_status(args.lab, host)
    db = max(m["Status"]["dbSize"] for m in st)
    node_tls = "ca_cert=%s/ca.crt client_cert=%s/admin.crt client_key=%s/admin.key" % ((NODE_PKI,) * 3)
    snap_args = "endpoints=%s %s dest_dir=%s/mod prefix=bench" % (ep, node_tls, WORK)
    ssh(args.lab, host, "rm -rf %s && mkdir -p %s/mod" % (WORK, WORK))

    def raw_save():
        s, v = timed_remote(args.lab, host, "rm -f %s/raw.db" % WORK,
                            "etcdctl snapshot save %s/raw.db" % WORK,
                            "%s snapshot status %s/raw.db -w json" % (ETCDUTL, WORK))[1:]
        return {"save_s": s, "verify_s": v, "total_s": round(s + v, 3)}

    def mod_save():
        ssh(args.lab, host, "rm -rf %s/mod && mkdir -p %s/mod" % (WORK, WORK))
        wall, res = ansible_json(args.inv, host, "etcdkit.etcd.etcd_snapshot", snap_args)
        return {"total_s": round(wall, 3), "path": res["path"], "size": res["size"]}

    def raw_restore():
        return {"total_s": timed_remote(
            args.lab, host, "rm -rf %s/rr" % WORK,
            "%s snapshot restore %s/raw.db --data-dir %s/rr --name bench --initial-cluster "
            "bench=http://127.0.0.1:2390 --initial-advertise-peer-urls http://127.0.0.1:2390" % (
                ETCDUTL, WORK, WORK))[1]}

    def mod_restore(path):
        ssh(args.lab, host, "rm -rf %s/mr" % WORK)
        wall, _res = ansible_json(args.inv, host, "etcdkit.etcd.etcd_restore",
                                  "snapshot=%s data_dir=%s/mr name=bench initial_cluster=bench=http://127.0.0.1:2390 "
                                  "initial_advertise_peer_urls=http://127.0.0.1:2390" % (path, WORK))
        return {"total_s": round(wall, 3)}

    def baseline():
        return {"total_s": round(ansible_json(args.inv, host, "ansible.builtin.command", "true")[0], 3)}

    # warm-up (page cache, SSH control sockets), not counted
    raw_save()
    path = mod_save()["path"]
    runs = []
    for i in range(args.repeat):
        one = {"load_before": loadavg()}
        order = ("raw", "mod") if i % 2 == 0 else ("mod", "raw")
        for kind in order:
            if kind == "raw":
                one["raw_save"] = raw_save()
                one["raw_restore"] = raw_restore()
            else:
                one["mod_save"] = mod_save()
                path = one["mod_save"]["path"]
                one["mod_restore"] = mod_restore(path)
        one["ansible_baseline"] = baseline()
        one["order"] = list(order)
        one["load_after"] = loadavg()
        runs.append(one)
    ssh(args.lab, host, "rm -rf %s" % WORK)
    return {"host": host, "db_size": db, "keys": count, "fill": {
        "writes": fill["acknowledged"]["writes"], "wall_s": fill["wall_s"]}, "runs": runs,
        "etcd_version": st[0]["Status"]["version"]}


# rolling defrag under load ---------------------------------------------------------------------------------------

def cmd_defrag(args):
    addrs = addresses(args.lab)
    hosts = args.hosts.split(",")
    eps = ["https://%s:2379" % addrs[h] for h in hosts]
    allowed = [addrs[h] for h in hosts]
    count = int(args.fragment_mib * MIB / 102400)
    loadgen(eps, args.pki, allowed, "--count", count, "--duration", 600, "--clients", 16, "--value-size", 102400,
            "--keyspace", count, "--prefix", "/bench/fragment/")  # written, then deleted by the cleanup
    st = endpoint_status(args.lab, hosts[0])
    rev = max(m["Status"]["header"]["revision"] for m in st)
    ssh(args.lab, hosts[0], "etcdctl compact %d --physical" % rev)
    before = {m["Endpoint"]: {"db_size": m["Status"]["dbSize"], "db_size_in_use": m["Status"]["dbSizeInUse"]}
              for m in endpoint_status(args.lab, hosts[0])}
    shape = ["--rate", args.rate, "--clients", 8, "--value-size", 256, "--keyspace", 20000]
    quiet = loadgen(eps, args.pki, allowed, "--count", int(args.rate * args.baseline_s), "--duration",
                    args.baseline_s + 30, "--prefix", "/bench/quiet/", *shape)
    proc = loadgen(eps, args.pki, allowed, "--count", 1000000, "--duration", 900, "--prefix", "/bench/during/",
                   *shape, popen=True)
    try:
        time.sleep(3)
        tls = "ca_cert=%s client_cert=%s client_key=%s" % tuple(
            os.path.join(args.pki, f) for f in ("ca.crt", "admin.crt", "admin.key"))
        wall, res = ansible_json(args.inv, "localhost", "etcdkit.etcd.etcd_defrag",
                                 "endpoints=%s %s force=true wait_timeout=120" % (",".join(eps), tls))
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    try:
        during = json.loads(out)
    except ValueError:
        raise SystemExit("load generator during the defrag: rc %d %s %s" % (proc.returncode, out[-2000:],
                                                                             err[-2000:]))
    members = [{"name": m.get("name"), "role": m.get("role"), "seconds": m.get("seconds"),
                "before": m.get("before"), "after": m.get("after"), "defragmented": m.get("defragmented")}
               for m in res["members"]]

    def lat(rep):
        w = rep["latency"]["write"]
        return {"writes": rep["acknowledged"]["writes"], "failed": rep["failed"], "errors": rep["errors"],
                "p50_ms": w.get("p50_ms"), "p99_ms": w.get("p99_ms"), "max_ms": w.get("max_ms"),
                "wall_s": rep["wall_s"]}
    return {"fragment_mib": args.fragment_mib, "compacted_at": rev, "before": before, "module_wall_s": round(wall, 2),
            "members": members, "load_quiet": lat(quiet), "load_during": lat(during), "rate": args.rate,
            "load_avg": loadavg()}


# report ----------------------------------------------------------------------------------------------------------

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def mib(n):
    return "-" if n is None else "%.0f MiB" % (n / MIB)


def cmd_report(args):
    conv = json.load(open(args.converge)) if args.converge else None
    snap = json.load(open(args.snapshot)) if args.snapshot else None
    dfg = json.load(open(args.defrag)) if args.defrag else None
    cpu = "unknown CPU"
    try:
        cpu = re.search(r"^model name\s*: (.*)$", open("/proc/cpuinfo").read(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    meta = json.load(open(args.meta)) if args.meta else {}
    lines = [BEGIN, "## Cluster operations on the test hosts (converge, snapshot and restore, rolling defrag)", "",
             "Three local test hosts (systemd-nspawn Debian bookworm, lab `%s`), a 3-member TLS cluster installed "
             "by `playbooks/site.yml` (etcd %s, quota 2 GiB), everything measured in one run of the command below."
             % (meta.get("lab", "bench"), meta.get("etcd_version", "?")), "",
             "- Date: %s" % (meta.get("date") or datetime.datetime.now(datetime.timezone.utc).strftime(
                 "%Y-%m-%d %H:%M UTC")),
             "- Machine: %d cores (%s), %s, Python %s, %s; the 1-minute load average is given per figure (other "
             "work may share the machine)" % (os.cpu_count(), cpu, platform.platform(), platform.python_version(),
                                               meta.get("ansible", "ansible-core ?")),
             "- Command: `%s`" % args.command, ""]
    if conv:
        f, n, c = conv["fresh"], conv["noop"], conv["check"]
        lines += ["### Converge (`playbooks/site.yml`)", "",
                  "| run | changed per host | wall time | load avg (1 min) |", "| --- | --- | --- | --- |"]
        for label, r in (("fresh 3-member cluster, new controller PKI", f), ("no-op re-run", n),
                         ("check mode on the converged cluster", c)):
            lines.append("| %s | %s | %.1f s | %.1f-%.1f |" % (
                label, "/".join(str(v) for _, v in sorted(r["changed"].items())), r["wall_s"], r["load_before"],
                r["load_after"]))
        lines += ["", "No-op / fresh: **%.1f %%** (target: at most 35 %%)." % (100 * conv["noop_over_fresh"]), "",
                  plot_bars(args.doc, "bench-converge", "site.yml on 3 test hosts (s)",
                            ["fresh", "no-op", "check"], [("wall time", [f["wall_s"], n["wall_s"], c["wall_s"]])],
                            "seconds"), ""]
    if snap:
        runs = snap["runs"]
        rs, ms = med([r["raw_save"]["total_s"] for r in runs]), med([r["mod_save"]["total_s"] for r in runs])
        rr, mr = med([r["raw_restore"]["total_s"] for r in runs]), med([r["mod_restore"]["total_s"] for r in runs])
        base = med([r["ansible_baseline"]["total_s"] for r in runs])
        la = [r["load_before"] for r in runs] + [r["load_after"] for r in runs]
        lines += ["### Snapshot and restore of a %s database" % mib(snap["db_size"]), "",
                  "On `%s`; %d keys of 100 KiB; medians of %d rounds (alternating which goes first), load average "
                  "%.1f-%.1f. Raw tools timed on the host; modules timed around `ansible` on the controller, whose "
                  "own cost is the baseline row (an `ansible.builtin.command true` on the same host)." % (
                      snap["host"], snap["keys"], len(runs), min(la), max(la)), "",
                  "| operation | raw etcd tools | etcdkit module (incl. Ansible) | module minus baseline | "
                  "module / raw |", "| --- | --- | --- | --- | --- |"]

        def row(name, raw, mod):
            net = None if mod is None or base is None else mod - base
            lines.append("| %s | %.2f s | %.2f s | %s | %.2f (net %s) |" % (
                name, raw, mod, "-" if net is None else "%.2f s" % net, mod / raw,
                "-" if net is None else "%.2f" % (net / raw)))
        row("save + verify (`etcdctl snapshot save` + `etcdutl snapshot status` / `etcd_snapshot`)", rs, ms)
        row("restore (`etcdutl snapshot restore` / `etcd_restore`)", rr, mr)
        lines.append("| Ansible baseline (`ansible.builtin.command true`) | | %.2f s | | |" % base)
        lines += ["", "Targets (within 20 %% of the raw tools, module minus the Ansible baseline): save + verify "
                  "%.2f - %s; restore %.2f - %s." % (
                      (ms - base) / rs, "met" if (ms - base) / rs <= 1.2 else "NOT met",
                      (mr - base) / rr, "met" if (mr - base) / rr <= 1.2 else "NOT met"),
                  "",
                  "`etcd_snapshot` reads the snapshot through etcd's JSON gateway (standard library only, no gRPC): "
                  "the gateway sends the database base64-encoded in JSON lines, about 4/3 of the bytes etcdctl "
                  "receives over gRPC, and the module hashes the stream (SHA-256 of the data and of the trailer) "
                  "while it writes it. `etcd_restore` runs the cluster's own etcdutl after checking the file.", "",
                  plot_bars(args.doc, "bench-snapshot", "%s database (s, medians)" % mib(snap["db_size"]),
                            ["save + verify", "restore"], [("raw etcd tools", [rs, rr]),
                                                           ("module incl. Ansible", [ms, mr]),
                                                           ("module minus baseline", [ms - base, mr - base])],
                            "seconds"), ""]
    if dfg:
        q, d = dfg["load_quiet"], dfg["load_during"]
        lines += ["### Rolling defrag under load", "",
                  "After writing and deleting %d MiB more and a physical compaction, `etcdkit.etcd.etcd_defrag` "
                  "(force: every member; followers first, the leader last, health and catch-up gates between "
                  "members) defragments the 3 members while the load generator writes at %d writes/s (8 clients, "
                  "256-byte values, spread over the members). Load average at the end: %.1f." % (
                      dfg["fragment_mib"], dfg["rate"], dfg["load_avg"]), "",
                  "| member | role | db size before -> after | defrag time |", "| --- | --- | --- | --- |"]
        for m in dfg["members"]:
            lines.append("| %s | %s | %s -> %s | %s |" % (
                m["name"], m["role"], mib((m.get("before") or {}).get("db_size")),
                mib((m.get("after") or {}).get("db_size")), "-" if m["seconds"] is None else "%.2f s" % m["seconds"]))
        lines += ["", "Whole module run: %.1f s." % dfg["module_wall_s"], "",
                  "| client load | writes | failed requests | p50 / p99 / max (ms) |", "| --- | --- | --- | --- |",
                  "| just before (%.0f s) | %d | %d | %.2f / %.2f / %.1f |" % (
                      q["wall_s"], q["writes"], q["failed"], q["p50_ms"], q["p99_ms"], q["max_ms"]),
                  "| during the rolling defrag (%.0f s) | %d | **%d** | %.2f / %.2f / %.1f |" % (
                      d["wall_s"], d["writes"], d["failed"], d["p50_ms"], d["p99_ms"], d["max_ms"]), "",
                  "Target: zero failed client requests during the rolling defrag - %s." % (
                      "met" if d["failed"] == 0 else "NOT met (%s)" % json.dumps(d["errors"])), "",
                  plot_bars(args.doc, "bench-defrag-members", "Defrag time per member (s)",
                            ["%s (%s)" % (m["name"], m["role"]) for m in dfg["members"]],
                            [("seconds", [m["seconds"] for m in dfg["members"]])], "seconds"),
                  plot_bars(args.doc, "bench-defrag-latency", "Client put latency, %d writes/s (ms)" % dfg["rate"],
                            ["p50", "p99", "max"], [("before", [q["p50_ms"], q["p99_ms"], q["max_ms"]]),
                                                    ("during defrag", [d["p50_ms"], d["p99_ms"], d["max_ms"]])],
                            "ms"), ""]
    lines.append(END)
    section = "\n".join(lines) + "\n"
    write_section(args.doc, BEGIN, END, section)
    print(section)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="verb", required=True)
    for verb in ("converge", "snapshot", "defrag"):
        sp = sub.add_parser(verb)
        sp.add_argument("--inv", required=True)
        sp.add_argument("--pki", required=True)
        sp.add_argument("--out", required=True)
        if verb != "converge":
            sp.add_argument("--lab", required=True)
            sp.add_argument("--hosts", required=True)
        if verb == "snapshot":
            sp.add_argument("--target-mib", type=int, default=512)
            sp.add_argument("--repeat", type=int, default=3)
        if verb == "defrag":
            sp.add_argument("--fragment-mib", type=int, default=256)
            sp.add_argument("--rate", type=int, default=200)
            sp.add_argument("--baseline-s", type=int, default=20)
    sp = sub.add_parser("report")
    for opt in ("--converge", "--snapshot", "--defrag", "--meta"):
        sp.add_argument(opt)
    sp.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    sp.add_argument("--command", default="make bench")
    args = p.parse_args()
    if args.verb == "report":
        return cmd_report(args)
    out = {"converge": cmd_converge, "snapshot": cmd_snapshot, "defrag": cmd_defrag}[args.verb](args)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
    print(json.dumps(out, sort_keys=True)[:2000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
