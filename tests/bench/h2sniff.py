#!/usr/bin/env python3
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Wire latency of gRPC requests on the loopback interface (plaintext HTTP/2), seen from outside the client.

  h2sniff.py --servers 127.0.26.1,127.0.26.2,127.0.26.3 --port 2379 --min-request-bytes 1000 --out FILE.json

Used by tests/bench/loadgen_bench.py to measure two different clients (etcdctl check perf and the etcdkit load
generator) with the same yardstick: for every HTTP/2 stream to a server address, the time from the kernel timestamp
of the packet that completed the client's request (HEADERS + DATA) to the one that completed the server's response
(the frame with END_STREAM). Client-side scheduling and decoding are not included, for both clients alike. Requests
whose gRPC DATA payload is smaller than --min-request-bytes are ignored (so only the puts of a given value size
count, not status/range/delete calls). Needs root (an AF_PACKET socket on "lo"); runs until SIGTERM/SIGINT, then
writes {count, p50_ms, p90_ms, p99_ms, max_ms, gaps, packets, ...}.

The TCP byte streams are reassembled per direction from the sequence numbers. Only client-port packets reach the
process (a classic BPF filter in the kernel). After a gap (a packet the socket missed; counted in "gaps") the stream
is picked up again at the next segment that starts with an HTTP/2 frame header; a request or response whose frames
were missed is not matched (stream ids are unique per connection, so no wrong pair is formed).
"""

import argparse
import json
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SO_ATTACH_FILTER = 26
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Direction:
    __slots__ = ("next_seq", "buf", "need_preface")

    def __init__(self, seq, need_preface):
        self.next_seq = seq
        self.buf = b""
        self.need_preface = need_preface


def bpf_program(port):
    """Classic BPF: IPv4 TCP to or from port, unfragmented, not the outgoing copy of a loopback packet."""
    drop, accept = "drop", "accept"
    prog = [  # (code, jt, jf, k); jt/jf may be labels
        (0x30, 0, 0, 0xFFFFF004),       # ldb [pkttype]            (SKF_AD_OFF + SKF_AD_PKTTYPE)
        (0x15, drop, 0, PACKET_OUTGOING),  # jeq OUTGOING -> drop
        (0x28, 0, 0, 12),               # ldh [12]                 ethertype
        (0x15, 0, drop, 0x0800),        # jeq IPv4
        (0x30, 0, 0, 23),               # ldb [23]                 IP protocol
        (0x15, 0, drop, 6),             # jeq TCP
        (0x28, 0, 0, 20),               # ldh [20]                 flags + fragment offset
        (0x45, drop, 0, 0x1FFF),        # jset fragment -> drop
        (0xB1, 0, 0, 14),               # ldxb 4*([14]&0xf)        IP header length
        (0x48, 0, 0, 14),               # ldh [x+14]               source port
        (0x15, accept, 0, port),
        (0x48, 0, 0, 16),               # ldh [x+16]               destination port
        (0x15, accept, drop, port),
        (0x06, 0, 0, 0),                # drop: ret 0
        (0x06, 0, 0, 0x40000),          # accept: ret 256 KiB
    ]
    labels = {drop: len(prog) - 2, accept: len(prog) - 1}
    out = b""
    for pc, (code, jt, jf, k) in enumerate(prog):
        jt = labels[jt] - pc - 1 if jt in labels else jt
        jf = labels[jf] - pc - 1 if jf in labels else jf
        out += struct.pack("HBBI", code, jt, jf, k)
    return out, len(prog)


def attach_filter(sock, port):
    import ctypes
    code, n = bpf_program(port)
    buf = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", n, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buf  # keep the program alive as long as the socket


def plausible(buf, client):
    """Does buf start with an HTTP/2 frame header (used to resynchronise after a missed packet)?"""
    if len(buf) < 9:
        return False
    ln, ftype = int.from_bytes(buf[:3], "big"), buf[3]
    sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
    return ln <= 16384 + 256 and ftype <= 9 and (sid == 0 or sid % 2 == 1)


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = -(-int(p * len(sorted_vals) * 1000) // 100000)
    return sorted_vals[min(len(sorted_vals), max(1, k)) - 1]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", required=True)
    p.add_argument("--port", type=int, default=2379)
    p.add_argument("--min-request-bytes", type=int, default=0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    servers = set(socket.inet_aton(s) for s in a.servers.split(","))
    port = a.port
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    _prog = attach_filter(s, a.port)  # noqa: F841 - referenced by the kernel while the socket lives
    s.bind(("lo", 0))
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 256 * 1024 * 1024)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024 * 1024)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    s.settimeout(0.2)
    conns = {}  # (client ip, client port, server ip) -> [client Direction, server Direction]
    starts = {}  # (conn, stream) -> [t_request_complete or None, request data bytes]
    lat = []
    lost = 0
    packets = 0
    stats = {"requests": 0, "unmatched_responses": 0, "small_requests": 0, "responses": 0, "gaps_client": 0, "connections": 0}
    unpack_hdr = struct.Struct("!HHIIBB").unpack_from
    print("ready", flush=True)
    while not stop:
        try:
            data, anc, _flags, addr = s.recvmsg(70000, 64)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        if addr[2] == PACKET_OUTGOING or len(data) < 14 + 20 + 20:
            continue
        ip = data[14:]
        if ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        src, dst = ip[12:16], ip[16:20]
        ihl = (ip[0] & 0xF) * 4
        sport, dport, seq, _ack, off, tflags = unpack_hdr(ip, ihl)
        if dport == port and dst in servers:
            key, idx = (src, sport, dst), 0
        elif sport == port and src in servers:
            key, idx = (dst, dport, src), 1
        else:
            continue
        packets += 1
        ts = None
        for level, typ, val in anc:
            if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", val[:16])
                ts = sec + nsec * 1e-9
        if tflags & 0x02:  # SYN
            c = conns.setdefault(key, [None, None])
            c[idx] = Direction((seq + 1) & 0xFFFFFFFF, idx == 0)
            stats["connections"] += idx == 0
            continue
        c = conns.get(key)
        if c is None or c[idx] is None:
            continue
        d = c[idx]
        total = (ip[2] << 8) | ip[3]
        payload = ip[ihl + (off >> 4) * 4:total]
        if tflags & 0x05:  # FIN/RST: forget the connection after this segment
            conns.pop(key, None)
        if not payload:
            continue
        if seq != d.next_seq:
            behind = (d.next_seq - seq) & 0xFFFFFFFF
            if behind < 0x80000000 and behind > 0:
                if behind >= len(payload):
                    continue  # retransmission of bytes already seen
                payload = payload[behind:]
            else:
                # a missed packet: resynchronise on this segment if it starts with a frame header (gRPC writes
                # whole frames); requests or responses whose frames were missed are simply not matched
                lost += 1
                stats["gaps_client"] += idx == 0
                d.buf = b""
                d.need_preface = False
                if not plausible(payload, idx == 0):
                    d.next_seq = (seq + len(payload)) & 0xFFFFFFFF
                    d.buf = None
                    continue
                d.next_seq = seq
        if d.buf is None:  # still looking for a frame boundary
            if not plausible(payload, idx == 0):
                d.next_seq = (seq + len(payload)) & 0xFFFFFFFF
                continue
            d.buf = b""
        d.next_seq = (d.next_seq + len(payload)) & 0xFFFFFFFF
        buf = d.buf + payload
        if d.need_preface:
            if len(buf) < len(PREFACE):
                d.buf = buf
                continue
            buf = buf[len(PREFACE):]
            d.need_preface = False
        pos = 0
        n = len(buf)
        while n - pos >= 9:
            ln = int.from_bytes(buf[pos:pos + 3], "big")
            if n - pos < 9 + ln:
                break
            ftype, fflags = buf[pos + 3], buf[pos + 4]
            sid = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            pos += 9 + ln
            if not sid:
                continue
            sk = (key, sid)
            if idx == 0:
                if ftype == 1:  # HEADERS: a new request
                    starts[sk] = [None, 0]
                    stats["requests"] += 1
                elif ftype == 0 and sk in starts:  # DATA: its body; the request is complete with END_STREAM
                    st = starts[sk]
                    st[1] += ln
                    if fflags & 1:
                        st[0] = ts
                elif ftype == 3:
                    starts.pop(sk, None)
            elif fflags & 1 and ftype in (0, 1):  # the server's last frame of the stream
                stats["responses"] += 1
                st = starts.pop(sk, None)
                if not st or st[0] is None or ts is None:
                    stats["unmatched_responses"] += 1
                elif st[1] < a.min_request_bytes:
                    stats["small_requests"] += 1
                else:
                    lat.append(ts - st[0])
            elif ftype == 3:
                starts.pop(sk, None)
        d.buf = buf[pos:]
    lat.sort()
    out = {"count": len(lat), "gaps": lost, "packets": packets}
    out.update(stats)
    for name, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99), ("max_ms", 100)):
        v = percentile(lat, q)
        out[name] = None if v is None else round(v * 1000, 3)
    with open(a.out, "w") as f:
        json.dump(out, f, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
