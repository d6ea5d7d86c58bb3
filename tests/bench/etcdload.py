#!/usr/bin/env python3
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Bounded etcd write load and acknowledged-key checks for the ramdisk scenario and the benchmarks.

Loopback only (every endpoint must be in 127.0.0.0/8), bounded by a put count AND a duration.
Uses python-etcd3 (gRPC; needs PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python with protobuf>=4).

  etcdload.py put   --endpoints URL[,URL] --count N --duration S [--clients C] [--prefix P] [--ack-file F]
  etcdload.py check --endpoints URL --prefix P --ack-file F      (every acknowledged key present?)

``put`` prints JSON: acknowledged puts, errors, wall time, throughput and latency percentiles. With several endpoints a
client that gets an error moves on to the next endpoint and retries the same key (a put is only counted, and only
written to the ack file, once etcd acknowledged it).
"""

import argparse
import ipaddress
import json
import os
import sys
import threading
import time
import urllib.parse

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
import etcd3  # noqa: E402


def parse_endpoints(text):
    out = []
    for url in text.split(","):
        u = urllib.parse.urlsplit(url.strip())
        if not ipaddress.ip_address(u.hostname).is_loopback:
            raise SystemExit("etcdload: refusing non-loopback endpoint %s" % url)
        out.append((u.hostname, u.port or 2379, u.scheme == "https"))
    return out


def make_client(ep, args):
    host, port, tls = ep
    kw = {}
    if tls:
        kw = dict(ca_cert=args.cacert, cert_cert=args.cert, cert_key=args.key)
    return etcd3.client(host=host, port=port, timeout=args.timeout, **kw)


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def cmd_put(args):
    eps = parse_endpoints(args.endpoints)
    deadline = time.monotonic() + args.duration
    lock = threading.Lock()
    counter = {"next": 0}
    lat = []
    errors = []
    ack = open(args.ack_file, "a") if args.ack_file else None
    value = "v" * args.value_size

    def stopped():
        return bool(args.stop_file) and os.path.exists(args.stop_file)

    def take():
        with lock:
            if counter["next"] >= args.count:
                return None
            counter["next"] += 1
            return counter["next"] - 1

    def worker(cid):
        idx = cid % len(eps)
        client = make_client(eps[idx], args)
        seq = take()
        while seq is not None and time.monotonic() < deadline and not stopped():
            key = "%s/%06d" % (args.prefix, seq)
            t0 = time.perf_counter()
            try:
                client.put(key, value)
            except Exception as e:  # noqa: BLE001 - any failure: not acknowledged
                with lock:
                    errors.append("%s:%d %s" % (eps[idx][0], eps[idx][1], type(e).__name__))
                time.sleep(args.retry_delay)
                if len(eps) > 1:
                    idx = (idx + 1) % len(eps)
                    try:
                        client.close()
                    except Exception:  # noqa: BLE001
                        pass
                    client = make_client(eps[idx], args)
                continue
            dt = time.perf_counter() - t0
            with lock:
                lat.append(dt)
                if ack:
                    ack.write(key + "\n")
            seq = take()
            if args.rate > 0:
                time.sleep(1.0 / args.rate)
        client.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.duration + args.timeout * 3)
    wall = time.monotonic() - t0
    if ack:
        ack.flush()
        os.fsync(ack.fileno())
        ack.close()
    lat.sort()
    out = {
        "acknowledged": len(lat), "errors": len(errors), "error_samples": errors[:5], "wall_s": round(wall, 3),
        "throughput_per_s": round(len(lat) / wall, 1) if wall > 0 else None, "clients": args.clients,
        "p50_ms": round(percentile(lat, 50) * 1000, 3) if lat else None,
        "p99_ms": round(percentile(lat, 99) * 1000, 3) if lat else None,
        "max_ms": round(lat[-1] * 1000, 3) if lat else None,
    }
    print(json.dumps(out, sort_keys=True))
    return 0 if lat else 1


def cmd_check(args):
    eps = parse_endpoints(args.endpoints)
    client = make_client(eps[0], args)
    present = set(m.key.decode() for _, m in client.get_prefix(args.prefix + "/", keys_only=True))
    with open(args.ack_file) as f:
        acked = set(line.strip() for line in f if line.strip())
    missing = sorted(acked - present)
    print(json.dumps({"acknowledged": len(acked), "present": len(present), "missing": len(missing),
                      "missing_samples": missing[:10]}, sort_keys=True))
    return 0 if not missing else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("verb", choices=["put", "check"])
    p.add_argument("--endpoints", required=True)
    p.add_argument("--cacert")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--prefix", default="/etcdkit-load")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--value-size", type=int, default=128)
    p.add_argument("--rate", type=float, default=0, help="max puts per second per client (0: unlimited)")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--retry-delay", type=float, default=0.2)
    p.add_argument("--ack-file")
    p.add_argument("--stop-file", help="put: stop (and report) as soon as this file exists")
    args = p.parse_args()
    if args.count <= 0 or args.duration <= 0 or args.clients <= 0:
        raise SystemExit("etcdload: --count, --duration and --clients must be positive (the load is bounded)")
    return cmd_put(args) if args.verb == "put" else cmd_check(args)


if __name__ == "__main__":
    sys.exit(main())
