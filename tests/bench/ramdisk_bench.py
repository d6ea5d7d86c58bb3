#!/usr/bin/env python3
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""RAM-disk vs disk benchmark (called by tests/bench/run.sh; not a timed test).

  ramdisk_bench.py measure --mode disk|ramdisk --lab LAB --hosts h1,h2,h3 --pki DIR --out FILE.json
  ramdisk_bench.py report  --disk disk.json --ramdisk ramdisk.json --doc docs/benchmarks.md --command "..."

``measure`` runs, against the members' own loopback addresses only:
  1. a single-client put run (latency p50/p99),
  2. a sustained run with several concurrent clients (throughput),
and reads before/after each member's Prometheus /metrics (etcd_disk_wal_fsync_duration_seconds histogram: p99 of
the fsyncs done during the runs, as the upper bound of the histogram bucket it falls in) and /proc/<etcd pid>/io
write_bytes (bytes the etcd processes sent towards the storage layer; tmpfs pages are never written back, so in RAM-disk
mode this is the disk traffic of etcd itself). In RAM-disk mode the helper's own disk writes are measured too: one
verified snapshot (the timer's job) and one clean stop + save of one member, reported per event.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
import urllib.request

from benchdoc import machine, plot_bars, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TH = os.path.join(ROOT, "tests", "testhosts", "testhosts")
LOAD = os.path.join(HERE, "etcdload.py")
BEGIN = "<!-- BEGIN ramdisk-bench (tests/bench/run.sh writes this section) -->"
END = "<!-- END ramdisk-bench -->"


def ssh(lab, host, cmd):
    return subprocess.run([TH, "--lab", lab, "ssh", host, cmd], check=True, capture_output=True, text=True,
                          timeout=300).stdout


def status(lab):
    return {h["name"]: h["address"] for h in json.loads(subprocess.run(
        [TH, "--lab", lab, "status"], check=True, capture_output=True, text=True).stdout)}


def metrics(addr, port):
    with urllib.request.urlopen("http://%s:%d/metrics" % (addr, port), timeout=10) as r:
        text = r.read().decode()
    buckets = {}
    for m in re.finditer(r'^etcd_disk_wal_fsync_duration_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M):
        buckets[float(m.group(1))] = float(m.group(2))
    return buckets


def p99_from(before, after):
    """p99 of the observations between two cumulative histograms: upper bound of the bucket holding it."""
    delta = {le: after.get(le, 0) - before.get(le, 0) for le in after}
    total = delta.get(float("inf"), 0)
    if total <= 0:
        return None, 0
    for le in sorted(delta):
        if delta[le] >= 0.99 * total:
            return le, int(total)
    return float("inf"), int(total)


def etcd_write_bytes(lab, host, unit):
    out = ssh(lab, host, "cat /proc/$(systemctl show -p MainPID --value %s)/io" % unit)
    return int(re.search(r"^write_bytes: (\d+)", out, re.M).group(1))


def load(args, endpoints, clients, count, prefix):
    pki = args.pki
    cmd = [sys.executable, LOAD, "put", "--endpoints", ",".join(endpoints), "--clients", str(clients), "--count",
           str(count), "--duration", str(args.duration), "--prefix", prefix, "--cacert", pki + "/ca.crt", "--cert",
           pki + "/admin.crt", "--key", pki + "/admin.key"]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=args.duration + 60)
    return json.loads(res.stdout)


def cmd_measure(args):
    addrs = status(args.lab)
    hosts = args.hosts.split(",")
    endpoints = ["https://%s:2379" % addrs[h] for h in hosts]
    m0 = {h: metrics(addrs[h], args.metrics_port) for h in hosts}
    io0 = {h: etcd_write_bytes(args.lab, h, args.unit) for h in hosts}
    stamp = str(int(time.time()))
    load0 = round(os.getloadavg()[0], 2)
    single = load(args, endpoints[:1], 1, args.single_count, "/bench/%s/%s/single" % (args.mode, stamp))
    multi = load(args, endpoints, args.clients, args.count, "/bench/%s/%s/multi" % (args.mode, stamp))
    m1 = {h: metrics(addrs[h], args.metrics_port) for h in hosts}
    io1 = {h: etcd_write_bytes(args.lab, h, args.unit) for h in hosts}
    puts = single["acknowledged"] + multi["acknowledged"]
    fsync = {h: p99_from(m0[h], m1[h]) for h in hosts}
    written = sum(io1[h] - io0[h] for h in hosts)
    out = {
        "mode": args.mode, "hosts": hosts, "puts": puts, "single": single, "multi": multi,
        "wal_fsync_p99_s": {h: fsync[h][0] for h in hosts}, "wal_fsyncs": {h: fsync[h][1] for h in hosts},
        "etcd_write_bytes_total": written, "load_before": load0, "load_after": round(os.getloadavg()[0], 2),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "etcd_write_bytes_per_10k_puts": int(written * 10000 / puts) if puts else None,
    }
    if args.mode == "ramdisk":
        cfg = "/etc/etcdkit/ramdisk/%s.json" % args.unit.replace(".service", "")
        helper = "/usr/local/libexec/etcdkit/etcd-ramdisk --config %s" % cfg
        ssh(args.lab, hosts[0], helper + " snapshot")
        st = json.loads(ssh(args.lab, hosts[0], helper + " status"))
        # the helper's status lists its snapshots among its restore candidates (newest: highest revision, then time)
        snaps = [c for c in st.get("candidates") or [] if c.get("kind") == "snapshot" and c.get("path")]
        newest = max(snaps, key=lambda c: (c.get("revision") or 0, c.get("time") or "")) if snaps else None
        out["snapshot_bytes"] = int(ssh(args.lab, hosts[0], "stat -c %s " + newest["path"]).strip()) if newest else None
        # one clean stop + start of a non-leader member: the save writes the whole data dir once
        ssh(args.lab, hosts[-1], "systemctl stop %s" % args.unit)
        st = json.loads(ssh(args.lab, hosts[-1], helper + " status"))
        ssh(args.lab, hosts[-1], "systemctl start %s" % args.unit)
        out["save_bytes"] = (st.get("copy") or {}).get("bytes")
        out["db_revision_after"] = (st.get("copy") or {}).get("revision")
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
    print(json.dumps(out, sort_keys=True))
    return 0


def fmt_ms(v):
    return "-" if v is None else ("%.3g ms" % (v * 1000) if v != float("inf") else "> 8 s")


def fmt_bytes(n):
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def cmd_report(args):
    meta = {}
    if args.from_json:
        with open(args.from_json) as f:
            kept = json.load(f)
        d, r, meta, args.command = kept["disk"], kept["ramdisk"], kept.get("meta") or {}, kept.get("command")
    else:
        if args.meta:
            with open(args.meta) as f:
                meta = json.load(f)
        with open(args.disk) as f:
            d = json.load(f)
        with open(args.ramdisk) as f:
            r = json.load(f)

    def load_of(x):
        return "-" if x.get("load_before") is None else "%.1f-%.1f" % (x["load_before"], x["load_after"])

    def fsync(x):
        vals = [v for v in x["wal_fsync_p99_s"].values() if v is not None]
        return "≤ " + fmt_ms(max(vals)) if vals else "-"

    rows = [
        ("WAL fsync p99 (worst member; histogram bucket bound)", fsync(d), fsync(r)),
        ("WAL fsyncs observed (sum over members)", str(sum(d["wal_fsyncs"].values())),
         str(sum(r["wal_fsyncs"].values()))),
        ("put latency p50, 1 client", "%.2f ms" % d["single"]["p50_ms"], "%.2f ms" % r["single"]["p50_ms"]),
        ("put latency p99, 1 client", "%.2f ms" % d["single"]["p99_ms"], "%.2f ms" % r["single"]["p99_ms"]),
        ("sustained puts/s, %d clients" % d["multi"]["clients"], "%.0f" % d["multi"]["throughput_per_s"],
         "%.0f" % r["multi"]["throughput_per_s"]),
        ("put latency p50 / p99, %d clients" % d["multi"]["clients"],
         "%.2f / %.2f ms" % (d["multi"]["p50_ms"], d["multi"]["p99_ms"]),
         "%.2f / %.2f ms" % (r["multi"]["p50_ms"], r["multi"]["p99_ms"])),
        ("bytes etcd wrote to disk per 10k puts (3 members)", fmt_bytes(d["etcd_write_bytes_per_10k_puts"]),
         fmt_bytes(r["etcd_write_bytes_per_10k_puts"])),
        ("helper: one verified snapshot (timer job)", "-", fmt_bytes(r.get("snapshot_bytes"))),
        ("helper: one clean-stop save of a member", "-", fmt_bytes(r.get("save_bytes"))),
        ("1-minute load average during the runs (before-after)", load_of(d), load_of(r)),
    ]
    lines = [
        BEGIN,
        "## RAM-disk vs disk",
        "",
        "Same 3 test hosts (systemd-nspawn Debian bookworm, lab `%s`, etcd %s, TLS), first in the role's default disk-backed mode, then after `playbooks/ramdisk.yml` moved the "
        "data dirs onto tmpfs (`etcdkit.etcd.ramdisk`). The hosts' disks are overlayfs upper dirs on the machine's "
        "disk." % (meta.get("lab", "rdbench"), meta.get("etcd_version", "3.5.1")),
        "",
        "- Date: %s" % (d.get("date") or meta.get("date")),
        "- Machine: %s; Python %s, %s; the 1-minute load average of each mode is the table's last "
        "row (other engineers' test hosts share the machine)" % (
            machine(), platform.python_version(), meta.get("ansible", "ansible-core")),
        "- Command: `%s`" % args.command,
        "- Load: `tests/bench/etcdload.py` (python-etcd3 over gRPC, pure-Python protobuf, loopback only, count- and "
        "time-bounded): %d puts from 1 client to one member, then %d puts from %d concurrent clients spread over "
        "the 3 members; 128-byte values." % (d["single"]["acknowledged"], d["multi"]["acknowledged"],
                                           d["multi"]["clients"]),
        "",
        "| metric | disk | RAM disk |",
        "| --- | --- | --- |",
    ]
    lines += ["| %s | %s | %s |" % row for row in rows]
    lines += [
        "",
        "Method: WAL fsync p99 is computed from the difference of each member's "
        "`etcd_disk_wal_fsync_duration_seconds` histogram (`/metrics`) before and after the runs, reported as the "
        "upper bound of the bucket that holds the 99th percentile (the histogram's resolution). Bytes written to "
        "disk are the difference of `write_bytes` in `/proc/<etcd pid>/io` of the three etcd processes (bytes the "
        "process caused to be sent to the storage layer; pages of a tmpfs are never written back, so they do not "
        "count), scaled to 10,000 acknowledged puts. In RAM-disk mode the disk writes move to the helper: one "
        "verified snapshot per timer interval (`ramdisk_snapshot_on_calendar`, default every 15 minutes; size of "
        "the db) and one save of the data dir per clean stop (db + the written part of the WAL; the zero-filled, "
        "preallocated tail of WAL segments is skipped), listed "
        "per event because their rate depends on the interval and on restarts, not on the number of puts; plus "
        "the revision watermark, a ~0.3 KiB state file rewritten once a minute. Client "
        "latencies include the pure-Python protobuf encoding of python-etcd3, the same in both modes.",
        "",
    ]
    note = "etcd %s; %s" % (meta.get("etcd_version", "?"), d.get("date") or meta.get("date"))
    fs = [max([v for v in x["wal_fsync_p99_s"].values() if v is not None and v != float("inf")] or [None],
              key=lambda v: -1 if v is None else v) for x in (d, r)]
    fs = [None if v is None else v * 1000 for v in fs]
    lines += [
        plot_bars(args.doc, "bench-ramdisk-latency", "Disk vs RAM disk: latency (ms)",
                  ["WAL fsync p99 (bucket bound)", "put p99, 1 client", "put p99, %d clients" % d["multi"]["clients"]],
                  [("disk", [fs[0], d["single"]["p99_ms"], d["multi"]["p99_ms"]]),
                   ("RAM disk", [fs[1], r["single"]["p99_ms"], r["multi"]["p99_ms"]])], "ms", note),
        plot_bars(args.doc, "bench-ramdisk-throughput", "Disk vs RAM disk: sustained puts/s",
                  ["%d clients" % d["multi"]["clients"]], [("disk", [d["multi"]["throughput_per_s"]]),
                                                          ("RAM disk", [r["multi"]["throughput_per_s"]])],
                  "puts/s", note),
        plot_bars(args.doc, "bench-ramdisk-diskbytes", "Bytes etcd wrote to disk per 10k puts (MiB)",
                  ["3 members"], [("disk", [d["etcd_write_bytes_per_10k_puts"] / 1048576.0]),
                                  ("RAM disk", [r["etcd_write_bytes_per_10k_puts"] / 1048576.0])], "MiB", note),
        END]
    section = "\n".join(lines) + "\n"
    write_section(args.doc, BEGIN, END, section)
    print(section)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="verb", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--mode", choices=["disk", "ramdisk"], required=True)
    m.add_argument("--lab", required=True)
    m.add_argument("--hosts", required=True)
    m.add_argument("--pki", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--unit", default="etcd.service")
    m.add_argument("--metrics-port", type=int, default=2381)
    m.add_argument("--single-count", type=int, default=2000)
    m.add_argument("--count", type=int, default=10000)
    m.add_argument("--clients", type=int, default=8)
    m.add_argument("--duration", type=int, default=180)
    r = sub.add_parser("report")
    r.add_argument("--from", dest="from_json", help="the kept docs/benchmarks-ramdisk.json (disk, ramdisk, meta, "
                   "command) instead of the four options below")
    r.add_argument("--disk")
    r.add_argument("--ramdisk")
    r.add_argument("--doc", required=True)
    r.add_argument("--command")
    r.add_argument("--meta", help="JSON with lab and etcd_version (tests/bench/run.sh writes it)")
    args = p.parse_args()
    return cmd_measure(args) if args.verb == "measure" else cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
