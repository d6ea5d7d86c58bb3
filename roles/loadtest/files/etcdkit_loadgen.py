# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""etcdkit load generator: bounded gRPC load against an etcd v3 cluster, with a latency report.

  python3 etcdkit_loadgen.py --endpoints https://10.0.0.1:2379,https://10.0.0.2:2379 --count 100000 --duration 60 \\
      --clients 64 [--rate 500] [--read-ratio 0.2] [--key-size 32] [--value-size 256] [--prefix /etcdkit-loadgen/] \\
      [--cacert ca.crt --cert admin.crt --key admin.key] [--user root --password-env VAR] [--json]

Safety: only loopback endpoints, or hosts named in --allowed-hosts (the playbook passes the inventory's member
addresses); every run is bounded by --count AND --duration (both required, both capped); the keys live under
--prefix, which is deleted afterwards (--no-cleanup keeps them); the prefix must be at least 2 bytes long and not "/".

Wire: the few etcd v3 messages it needs (Put, Range, DeleteRange, Status, Authenticate) are encoded and decoded here
by hand (protobuf wire format, field numbers of etcd's api/etcdserverpb/rpc.proto) and sent as raw bytes over gRPC
(grpcio's C core does HTTP/2 and TLS), so no protobuf runtime is involved: the pure-Python protobuf that python-etcd3
needs would otherwise be the bottleneck. Concurrency: one asyncio loop, --clients in-flight requests spread over
--connections channels per endpoint.

Report (human on stdout, or JSON with --json; --report FILE writes the JSON too): acknowledged operations and
throughput, latency p50/p90/p99/max per operation type (measured from sending the request to its answer), failed
requests by kind, client CPU seconds (and per 1,000 acknowledged writes), db size of every member before and after.
SIGTERM ends a run early: no new requests, the ones in flight finish, and the report is complete
("stopped_early": true), so a wrapper can keep load on for exactly as long as an operation it times.
Exit status: 0 when at least one operation was acknowledged and none failed, 1 when requests failed, 2 on bad
arguments or when the cluster is unreachable before the run.
"""

import argparse
import array
import asyncio
import ipaddress
import json
import math
import os
import random
import resource
import signal
import sys
import time
import urllib.parse

MAX_COUNT = 100000000
MAX_DURATION = 24 * 3600
MAX_CLIENTS = 10000
MAX_VALUE_SIZE = 1536 * 1024

# ------------------------------------------------------------------------------------------ protobuf wire format
# Field numbers from etcd's api/etcdserverpb/rpc.proto (stable since v3.0).


def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(num, data):
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _field_varint(num, n):
    return _varint(num << 3) + _varint(n)


def encode_put(key, value):
    """PutRequest{key=1, value=2} (an empty value is left out, as proto3 does)."""
    return _field_bytes(1, key) + (_field_bytes(2, value) if value else b"")


def encode_range(key, range_end=b"", serializable=False, count_only=False, limit=0):
    """RangeRequest{key=1, range_end=2, limit=3, serializable=7, count_only=9}."""
    out = _field_bytes(1, key)
    if range_end:
        out += _field_bytes(2, range_end)
    if limit:
        out += _field_varint(3, limit)
    if serializable:
        out += _field_varint(7, 1)
    if count_only:
        out += _field_varint(9, 1)
    return out


def encode_delete_range(key, range_end):
    """DeleteRangeRequest{key=1, range_end=2}."""
    return _field_bytes(1, key) + _field_bytes(2, range_end)


def encode_authenticate(name, password):
    """AuthenticateRequest{name=1, password=2}."""
    return _field_bytes(1, name.encode()) + _field_bytes(2, password.encode())


def decode_fields(data):
    """Top-level fields of a protobuf message: {number: [value, ...]} (varints as int, length-delimited as bytes)."""
    out = {}
    i, n = 0, len(data)
    while i < n:
        tag, i = _read_varint(data, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            val, i = _read_varint(data, i)
        elif wt == 2:
            ln, i = _read_varint(data, i)
            val, i = data[i:i + ln], i + ln
            if i > n:
                raise ValueError("truncated protobuf message")
        elif wt == 1:
            val, i = int.from_bytes(data[i:i + 8], "little"), i + 8
        elif wt == 5:
            val, i = int.from_bytes(data[i:i + 4], "little"), i + 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wt)
        out.setdefault(num, []).append(val)
    return out


def _read_varint(data, i):
    shift = result = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _first(fields, num, default=0):
    vals = fields.get(num)
    return vals[0] if vals else default


def decode_status(data):
    """StatusResponse{header=1{member_id=2, revision=3}, version=2, dbSize=3, leader=4, dbSizeInUse=9}."""
    f = decode_fields(data)
    hdr = decode_fields(_first(f, 1, b""))
    return {"member_id": "%x" % _first(hdr, 2), "revision": _first(hdr, 3), "version": _first(f, 2, b"").decode(),
            "db_size": _first(f, 3), "db_size_in_use": _first(f, 9), "leader": "%x" % _first(f, 4)}


def decode_range_count(data):
    """RangeResponse{count=4}."""
    return _first(decode_fields(data), 4)


def decode_deleted(data):
    """DeleteRangeResponse{deleted=2}."""
    return _first(decode_fields(data), 2)


def decode_token(data):
    """AuthenticateResponse{token=2}."""
    return _first(decode_fields(data), 2, b"").decode()


def prefix_range_end(prefix):
    """The range_end that selects every key starting with prefix (etcd's 'prefix' semantics)."""
    b = bytearray(prefix)
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[:i + 1])
    return b"\0"


# --------------------------------------------------------------------------------------------- pure decisions


def percentile(sorted_vals, p):
    """Nearest-rank percentile (the smallest value with at least p% of the values at or below it)."""
    if not len(sorted_vals):
        return None
    if p <= 0:
        return sorted_vals[0]
    k = -(-int(p * len(sorted_vals) * 1000) // 100000)  # ceil(p/100 * n) without float surprises
    return sorted_vals[min(len(sorted_vals), max(1, k)) - 1]


def latency_summary(values):
    """values: latencies in seconds -> dict of count and p50/p90/p99/max in ms."""
    vals = sorted(values)
    out = {"count": len(vals)}
    for name, p in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99), ("max_ms", 100)):
        v = percentile(vals, p)
        out[name] = None if v is None else round(v * 1000, 3)
    out["mean_ms"] = round(sum(vals) / len(vals) * 1000, 3) if vals else None
    return out


class RateLimiter:
    """A fixed-rate schedule for the whole run: slot i at start + i/rate, no catch-up bursts.

    ``reserve(now)`` returns the time at which the caller may send its request. A caller that is late (the
    generator could not keep up) gets ``now`` and moves the schedule along, so a stall is not followed by a burst
    (like a token bucket with a burst of 1). rate <= 0 means no limit."""

    def __init__(self, rate, start, tick=0.0):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = start
        self.start = start
        self.tick = tick

    def reserve(self, now):
        if not self.interval:
            return now
        at = self.next if self.next > now else now
        self.next = at + self.interval
        if self.tick > 0:
            # release on a grid of ticks: the requests due within one tick leave together (one wake-up of the
            # event loop for several requests instead of one each); the average rate is unchanged
            at = self.start + math.ceil((at - self.start) / self.tick - 1e-9) * self.tick
        return at


def check_endpoint(url, allowed_hosts):
    """(host, port, tls) for an endpoint URL, or ValueError saying why it is refused.

    Accepted: http/https URLs whose host is a loopback address (or 'localhost') or one of allowed_hosts (the
    inventory's member addresses, compared as written)."""
    u = urllib.parse.urlsplit(url.strip())
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError("endpoint %r: expected http(s)://HOST:PORT" % url)
    if u.path not in ("", "/") or u.query or u.fragment or u.username:
        raise ValueError("endpoint %r: only scheme, host and port are allowed" % url)
    try:
        port = u.port or 2379
    except ValueError:
        raise ValueError("endpoint %r: bad port" % url)
    host = u.hostname
    allowed = set(h.strip().lower() for h in allowed_hosts if h.strip())
    loopback = host.lower() == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    if not loopback and host.lower() not in allowed:
        raise ValueError("endpoint %r: refusing a host that is neither loopback nor an inventory address "
                         "(--allowed-hosts)" % url)
    return host, port, u.scheme == "https"


def validate(args):
    """List of problems with the arguments (empty when fine); fills args.eps."""
    problems = []
    if not 1 <= args.count <= MAX_COUNT:
        problems.append("--count must be 1..%d (the load is bounded)" % MAX_COUNT)
    if not 0 < args.duration <= MAX_DURATION:
        problems.append("--duration must be > 0 and <= %d seconds (the load is bounded)" % MAX_DURATION)
    if not 1 <= args.clients <= MAX_CLIENTS:
        problems.append("--clients must be 1..%d" % MAX_CLIENTS)
    if not 1 <= args.connections <= 64:
        problems.append("--connections must be 1..64")
    if not 0.0 <= args.read_ratio <= 1.0:
        problems.append("--read-ratio must be between 0 and 1")
    if args.rate < 0:
        problems.append("--rate must be >= 0 (0: as fast as possible)")
    if not 0 <= args.value_size <= MAX_VALUE_SIZE:
        problems.append("--value-size must be 0..%d bytes" % MAX_VALUE_SIZE)
    if args.timeout <= 0:
        problems.append("--timeout must be > 0")
    prefix = args.prefix.encode()
    if len(prefix) < 2 or args.prefix.strip("/") == "":
        problems.append("--prefix must be at least 2 bytes and not only '/' (it is deleted afterwards)")
    if args.key_size < len(prefix) + 1 or args.key_size > 4096:
        problems.append("--key-size must be between len(--prefix)+1 (%d) and 4096" % (len(prefix) + 1))
    elif args.keyspace and 10 ** (args.key_size - len(prefix)) < args.keyspace:
        problems.append("--key-size %d leaves too few digits for --keyspace %d after the prefix"
                        % (args.key_size, args.keyspace))
    if args.keyspace < 0:
        problems.append("--keyspace must be >= 0 (0: one key per write)")
    if (args.cert is None) != (args.key is None):
        problems.append("--cert and --key go together")
    if args.user and not (args.password_env and os.environ.get(args.password_env) is not None):
        problems.append("--user needs the password in the environment variable named by --password-env")
    eps = []
    for url in [e for e in args.endpoints.split(",") if e.strip()]:
        try:
            eps.append(check_endpoint(url, args.allowed_hosts.split(",") if args.allowed_hosts else []))
        except ValueError as e:
            problems.append(str(e))
    if not eps and not any("endpoint" in p for p in problems):
        problems.append("--endpoints: at least one endpoint")
    if eps and len(set(ep[2] for ep in eps)) > 1:
        problems.append("--endpoints: mix of http and https")
    if eps and eps[0][2] and not args.cacert:
        problems.append("https endpoints need --cacert")
    args.eps = eps
    return problems


def make_key(prefix, index, key_size):
    """prefix + the index, zero-padded so the key is key_size bytes."""
    return prefix + str(index).zfill(key_size - len(prefix)).encode()


# ----------------------------------------------------------------------------------------------------- runtime


class Progress:
    def __init__(self, enabled, total, duration, stream=sys.stderr):
        self.enabled, self.total, self.duration, self.stream = enabled, total, duration, stream
        self.last = 0.0

    def show(self, done, errors, elapsed, final=False):
        if not self.enabled or (not final and elapsed - self.last < 0.5):
            return
        self.last = elapsed
        frac = max(min(1.0, done / float(self.total)), min(1.0, elapsed / self.duration))
        filled = "#" * int(frac * 30)
        rate = done / elapsed if elapsed > 0 else 0.0
        self.stream.write("\r[%-30s] %d/%d ops %6.0f/s %5.1f/%.0fs errors %d " % (
            filled, done, self.total, rate, elapsed, self.duration, errors))
        if final:
            self.stream.write("\n")
        self.stream.flush()


class Runner:
    def __init__(self, args, grpc_mod):
        self.a = args
        self.grpc = grpc_mod
        self.prefix = args.prefix.encode()
        self.value = b"v" * args.value_size
        self.lat_w = array.array("d")
        self.lat_r = array.array("d")
        self.errors = {}
        self.error_samples = []
        self.stopped = False
        self.issued = 0
        self.token = None
        self.reauths = 0
        self.rng = random.Random(args.seed)
        self.stopping = False

    # -- channels
    def _creds(self):
        a = self.a

        def rd(p):
            with open(p, "rb") as f:
                return f.read()
        return self.grpc.ssl_channel_credentials(
            root_certificates=rd(a.cacert), private_key=rd(a.key) if a.key else None,
            certificate_chain=rd(a.cert) if a.cert else None)

    def _channel(self, ep):
        host, port, tls = ep
        target = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
        opts = [("grpc.use_local_subchannel_pool", 1),  # one TCP connection per channel
                ("grpc.max_receive_message_length", 16 * 1024 * 1024),
                ("grpc.enable_retries", 0)]
        if self.a.wait_for_ready:
            # reconnect soon after a member restarts (gRPC's default backoff grows to minutes)
            opts += [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.min_reconnect_backoff_ms", 200),
                     ("grpc.max_reconnect_backoff_ms", 1000)]
        aio = self.grpc.aio
        if tls:
            return aio.secure_channel(target, self._creds(), options=opts)
        return aio.insecure_channel(target, options=opts)

    def _method(self, channel, path):
        return channel.unary_unary(path, request_serializer=None, response_deserializer=None)

    def _md(self):
        return (("token", self.token),) if self.token else None

    async def _call(self, m, req, timeout):
        try:
            return await m(req, timeout=timeout, metadata=self._md())
        except self.grpc.aio.AioRpcError as e:
            if await self._reauth_if_expired(e):
                return await m(req, timeout=timeout, metadata=self._md())
            raise

    async def _reauth_if_expired(self, exc):
        """True when exc says the auth token expired and a new one was obtained (then the request is retried)."""
        if not (self.a.user and isinstance(exc, self.grpc.aio.AioRpcError)
                and "invalid auth token" in (exc.details() or "")):
            return False
        try:
            await self._authenticate()
        except self.grpc.aio.AioRpcError:
            return False
        self.reauths += 1
        return True

    async def _authenticate(self):
        if not self.a.user:
            return
        m = self._method(self.chans[0][0], "/etcdserverpb.Auth/Authenticate")
        resp = await m(encode_authenticate(self.a.user, os.environ[self.a.password_env]), timeout=self.a.timeout)
        self.token = decode_token(resp)

    async def status_all(self):
        out = {}
        for ep, chans in zip(self.a.eps, self.chans):
            name = "%s:%d" % (ep[0], ep[1])
            try:
                resp = await self._call(self._method(chans[0], "/etcdserverpb.Maintenance/Status"), b"",
                                        self.a.timeout)
                out[name] = decode_status(resp)
            except self.grpc.aio.AioRpcError as e:
                out[name] = {"error": "%s: %s" % (e.code().name, e.details())}
        return out

    def _record_error(self, exc):
        if isinstance(exc, self.grpc.aio.AioRpcError):
            kind = "%s: %s" % (exc.code().name, (exc.details() or "")[:120])
        else:
            kind = "%s: %s" % (type(exc).__name__, str(exc)[:120])
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def _worker(self, wid, limiter, deadline):
        a = self.a
        chans = self.chans[wid % len(self.chans)]
        ch = chans[(wid // len(self.chans)) % len(chans)]
        put = self._method(ch, "/etcdserverpb.KV/Put")
        rng_ = self._method(ch, "/etcdserverpb.KV/Range")
        loop = asyncio.get_running_loop()
        clock = loop.time
        perf = time.perf_counter
        rnd = self.rng.random
        keyspace = a.keyspace or a.count
        # hot path: the PutRequest around a fixed-size key is the same bytes every time
        put_head = _varint(1 << 3 | 2) + _varint(a.key_size)
        put_tail = _field_bytes(2, self.value) if self.value else b""
        width = a.key_size - len(self.prefix)
        prefix = self.prefix
        timeout = a.timeout
        wfr = True if a.wait_for_ready else None
        while self.issued < a.count and not self.stopping:
            now = clock()
            if now >= deadline:
                return
            at = limiter.reserve(now)
            if at > now:
                if at >= deadline:
                    return
                await asyncio.sleep(at - now)
                if self.issued >= a.count or self.stopping:
                    return
            seq = self.issued
            self.issued += 1
            read = a.read_ratio > 0 and self.writes_done > 0 and rnd() < a.read_ratio
            if read:
                key = make_key(prefix, int(rnd() * min(self.writes_done, keyspace)), a.key_size)
                req, m = encode_range(key, serializable=a.serializable), rng_
            else:
                req, m = put_head + prefix + str(seq % keyspace).zfill(width).encode() + put_tail, put
            t0 = perf()
            try:
                await m(req, timeout=timeout, metadata=self._md(), wait_for_ready=wfr)
            except Exception as e:  # noqa: BLE001 - every failure is counted, the run goes on
                if not await self._reauth_if_expired(e):
                    self._record_error(e)
                    continue
                try:
                    await m(req, timeout=timeout, metadata=self._md(), wait_for_ready=wfr)
                except Exception as e2:  # noqa: BLE001
                    self._record_error(e2)
                    continue
            dt = perf() - t0
            if read:
                self.lat_r.append(dt)
            else:
                self.lat_w.append(dt)
                self.writes_done += 1

    async def _progress(self, prog, t0, stop):
        while not stop.is_set():
            if self.a.stop_file and os.path.exists(self.a.stop_file):
                self.stopping = True  # no new requests; those in flight finish
            prog.show(len(self.lat_w) + len(self.lat_r), sum(self.errors.values()), time.monotonic() - t0)
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass

    async def run(self):
        a = self.a
        self.writes_done = 0
        self.chans = [[self._channel(ep) for _conn in range(a.connections)] for ep in a.eps]
        result = {"arguments": {k: getattr(a, k) for k in (
            "endpoints", "count", "duration", "clients", "connections", "rate", "read_ratio", "key_size",
            "value_size", "keyspace", "prefix", "serializable", "timeout")}}
        result["arguments"]["user"] = a.user or None
        result["arguments"]["tls"] = bool(a.eps[0][2])
        try:
            try:
                await self._authenticate()
            except self.grpc.aio.AioRpcError as e:
                raise SetupError("authentication as %r failed: %s: %s" % (a.user, e.code().name, e.details()))
            before = await self.status_all()
            if all("error" in v for v in before.values()):
                raise SetupError("no endpoint answered: %s" % json.dumps(before, sort_keys=True))
            loop = asyncio.get_running_loop()
            prog = Progress(a.progress == "always" or (a.progress == "auto" and sys.stderr.isatty()),
                            a.count, a.duration)
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            t0m = time.monotonic()
            start = loop.time()
            deadline = start + a.duration
            limiter = RateLimiter(a.rate, start, a.tick)
            stop = asyncio.Event()
            # SIGTERM ends the run early: no new requests, the ones in flight finish, the report is complete
            # (a wrapper that times an operation stops the load when the operation is done)

            def _stop_early():
                self.stopped = self.stopping = True
            loop.add_signal_handler(signal.SIGTERM, _stop_early)
            ptask = loop.create_task(self._progress(prog, t0m, stop))
            workers = [loop.create_task(self._worker(i, limiter, deadline)) for i in range(a.clients)]
            # hard cap: requests still in flight at the deadline get their own timeout, then everything stops
            done, pending = await asyncio.wait(workers, timeout=a.duration + a.timeout + 1)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending)
                self.errors["cancelled at the hard time cap"] = len(pending)
            wall = loop.time() - start
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            loop.remove_signal_handler(signal.SIGTERM)
            stop.set()
            await ptask
            prog.show(len(self.lat_w) + len(self.lat_r), sum(self.errors.values()), time.monotonic() - t0m, True)
            for t in done:
                if t.exception() is not None:
                    self._record_error(t.exception())
            after = await self.status_all()
            cleanup = None
            if a.cleanup:
                cleanup = await self.cleanup()
            cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            nw, nr = len(self.lat_w), len(self.lat_r)
            nerr = sum(self.errors.values())
            result.update({
                "acknowledged": {"writes": nw, "reads": nr, "total": nw + nr},
                "failed": nerr, "errors": dict(sorted(self.errors.items(), key=lambda kv: -kv[1])),
                "reauthentications": self.reauths,
                "stopped_by_stop_file": self.stopping and not self.stopped,
                "wall_s": round(wall, 3),
                "stopped_early": self.stopping,
                "throughput_per_s": {"writes": round(nw / wall, 1), "reads": round(nr / wall, 1),
                                     "total": round((nw + nr) / wall, 1)},
                "latency": {"write": latency_summary(self.lat_w), "read": latency_summary(self.lat_r)},
                "client_cpu_s": {"user": round(ru1.ru_utime - ru0.ru_utime, 3),
                                 "system": round(ru1.ru_stime - ru0.ru_stime, 3), "total": round(cpu, 3)},
                "cpu_s_per_1000_writes": round(cpu * 1000.0 / nw, 4) if nw else None,
                "cpu_s_per_1000_ops": round(cpu * 1000.0 / (nw + nr), 4) if nw + nr else None,
                "members_before": before, "members_after": after,
                "db_size_growth_bytes": _db_growth(before, after),
                "cleanup": cleanup,
            })
        finally:
            for chans in self.chans:
                for ch in chans:
                    await ch.close()
        return result

    async def cleanup(self):
        m = self._method(self.chans[0][0], "/etcdserverpb.KV/DeleteRange")
        try:
            resp = await self._call(m, encode_delete_range(self.prefix, prefix_range_end(self.prefix)),
                                    max(self.a.timeout, 60.0))
            return {"prefix": self.a.prefix, "deleted": decode_deleted(resp)}
        except self.grpc.aio.AioRpcError as e:
            return {"prefix": self.a.prefix, "error": "%s: %s" % (e.code().name, e.details())}


class SetupError(Exception):
    pass


def _db_growth(before, after):
    out = {}
    for name, b in before.items():
        a = after.get(name, {})
        if "db_size" in b and "db_size" in a:
            out[name] = a["db_size"] - b["db_size"]
    return out


def human(r):
    lines = []
    arg = r["arguments"]
    lines.append("etcdkit load: %d clients over %d endpoint(s) x %d connection(s), %s, read ratio %.2f, key %d B, "
                 "value %d B, prefix %s" % (arg["clients"], len(arg["endpoints"].split(",")), arg["connections"],
                                            "rate %g ops/s" % arg["rate"] if arg["rate"] else "unlimited rate",
                                            arg["read_ratio"], arg["key_size"], arg["value_size"], arg["prefix"]))
    ack = r["acknowledged"]
    tp = r["throughput_per_s"]
    lines.append("acknowledged: %d writes, %d reads in %.2f s (%.1f writes/s, %.1f reads/s); failed: %d"
                 % (ack["writes"], ack["reads"], r["wall_s"], tp["writes"], tp["reads"], r["failed"]))
    for op in ("write", "read"):
        s = r["latency"][op]
        if s["count"]:
            lines.append("%-5s latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f" % (
                op, s["p50_ms"], s["p90_ms"], s["p99_ms"], s["max_ms"]))
    for kind, n in r["errors"].items():
        lines.append("  error x%d: %s" % (n, kind))
    c = r["client_cpu_s"]
    lines.append("client CPU: %.2f s (user %.2f, sys %.2f); %s s per 1,000 acknowledged writes" % (
        c["total"], c["user"], c["system"], r["cpu_s_per_1000_writes"]))
    for name, g in sorted(r["db_size_growth_bytes"].items()):
        lines.append("db size %s: %d -> %d bytes (%+d)" % (
            name, r["members_before"][name]["db_size"], r["members_after"][name]["db_size"], g))
    if r["cleanup"]:
        cl = r["cleanup"]
        lines.append("cleanup %s: %s" % (cl["prefix"], ("%d keys deleted" % cl["deleted"]) if "deleted" in cl
                                         else cl["error"]))
    return "\n".join(lines)


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoints", required=True, help="comma-separated client URLs (loopback or --allowed-hosts)")
    p.add_argument("--allowed-hosts", default="", help="comma-separated inventory addresses that may be targeted")
    p.add_argument("--cacert")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user", default="")
    p.add_argument("--password-env", default="ETCDKIT_LOADGEN_PASSWORD",
                   help="name of the environment variable holding --user's password")
    p.add_argument("--count", type=int, required=True, help="hard cap on operations")
    p.add_argument("--duration", type=float, required=True, help="hard cap on seconds of load")
    p.add_argument("--clients", type=int, default=16, help="concurrent in-flight requests")
    p.add_argument("--connections", type=int, default=1, help="gRPC connections per endpoint")
    p.add_argument("--rate", type=float, default=0.0, help="total operations per second (0: as fast as possible)")
    p.add_argument("--tick", type=float, default=0.002,
                   help="with --rate: requests due within one tick (seconds) are released together")
    p.add_argument("--read-ratio", type=float, default=0.0, help="share of reads (0..1)")
    p.add_argument("--serializable", action="store_true", help="serializable instead of linearizable reads")
    p.add_argument("--key-size", type=int, default=32)
    p.add_argument("--value-size", type=int, default=256)
    p.add_argument("--keyspace", type=int, default=0, help="distinct keys (0: one key per write)")
    p.add_argument("--prefix", default="/etcdkit-loadgen/")
    p.add_argument("--no-cleanup", dest="cleanup", action="store_false", help="keep the keys under --prefix")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    p.add_argument("--wait-for-ready", action="store_true",
                   help="a request on a connection that is down (its member restarting) waits for the reconnect, "
                        "within --timeout, instead of failing at once (what etcd's Go client does by default)")
    p.add_argument("--progress", choices=["auto", "always", "never"], default="auto",
                   help="progress bar on stderr (auto: when stderr is a terminal)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stop-file", help="end the run (like reaching --duration) once this file exists")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the human one")
    p.add_argument("--report", help="also write the JSON report to this file")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    problems = validate(args)
    if problems:
        for pr in problems:
            sys.stderr.write("etcdkit_loadgen: %s\n" % pr)
        return 2
    try:
        import grpc  # noqa: F401 - grpcio; its aio API ships with it
        import grpc.aio  # noqa: F401
    except ImportError:
        sys.stderr.write("etcdkit_loadgen: needs the grpcio package on this Python (pip install grpcio)\n")
        return 2
    try:
        result = asyncio.run(Runner(args, grpc).run())
    except SetupError as e:
        sys.stderr.write("etcdkit_loadgen: %s\n" % e)
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("etcdkit_loadgen: interrupted (keys under %s are left in place)\n" % args.prefix)
        return 130
    if args.report:
        with open(args.report, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
    print(json.dumps(result, sort_keys=True) if args.json else human(result))
    ok = result["acknowledged"]["total"] > 0 and not result["failed"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
