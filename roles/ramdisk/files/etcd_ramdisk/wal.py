# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Offline reader of an etcd v3 write-ahead log (standard library only).

etcd has no API for a stopped member's WAL: the helper reads it to know which member and cluster a data dir belongs
to and how far its raft log goes (hard state term/commit), so a save never replaces newer data with older data and a
copy-in is checked against the clean mark.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import struct

# walpb.Record types
_METADATA = 1
_ENTRY = 2
_STATE = 3


def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(buf):
    """Decode a protobuf message into {field: [values]} (varint, fixed and length-delimited fields)."""
    out = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wtype = key >> 3, key & 7
        if wtype == 0:
            val, pos = _varint(buf, pos)
        elif wtype == 2:
            size, pos = _varint(buf, pos)
            val = buf[pos:pos + size]
            pos += size
        elif wtype == 1:
            val = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wtype == 5:
            val = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ValueError("unsupported wire type %d" % wtype)
        out.setdefault(field, []).append(val)
    return out


def _records(data):
    """Yield (type, payload) of each intact frame; stops at the first torn or zero-filled frame, as etcd does."""
    pos = 0
    while pos + 8 <= len(data):
        (lenfield,) = struct.unpack_from("<Q", data, pos)
        if lenfield == 0:
            return
        rec_bytes = lenfield & 0x00FFFFFFFFFFFFFF
        pad = (lenfield >> 56) & 0x7 if lenfield & (1 << 63) else 0
        start = pos + 8
        if start + rec_bytes + pad > len(data):
            return
        try:
            rec = fields(data[start:start + rec_bytes])
        except (ValueError, struct.error):
            return
        pos = start + rec_bytes + pad
        yield rec.get(1, [0])[0], rec.get(3, [b""])[0]


def read_wal(wal_dir):
    """Summarise a WAL directory: ``{member_id, cluster_id (hex str), term, commit, vote, last_index}``.

    Returns None when there is no WAL.
    """
    try:
        names = sorted(n for n in os.listdir(wal_dir) if n.endswith(".wal"))
    except (IOError, OSError):
        return None
    if not names:
        return None
    res = {"member_id": None, "cluster_id": None, "term": 0, "commit": 0, "last_index": 0, "vote": 0}
    for name in names:
        with open(os.path.join(wal_dir, name), "rb") as handle:
            data = handle.read()
        for rtype, payload in _records(data):
            if rtype == _METADATA:  # etcdserverpb.Metadata{NodeID, ClusterID}
                meta = fields(payload)
                res["member_id"] = "%x" % meta.get(1, [0])[0]
                res["cluster_id"] = "%x" % meta.get(2, [0])[0]
            elif rtype == _ENTRY:  # raftpb.Entry{Type, Term, Index, Data}
                res["last_index"] = fields(payload).get(3, [0])[0]
            elif rtype == _STATE:  # raftpb.HardState{Term, Vote, Commit}
                hard = fields(payload)
                if hard:
                    res["term"] = hard.get(1, [0])[0]
                    res["vote"] = hard.get(2, [0])[0]
                    res["commit"] = hard.get(3, [0])[0]
    return res


def has_wal(data_dir):
    """Does ``data_dir`` hold member data (at least one WAL segment)?"""
    wal_dir = os.path.join(data_dir, "member", "wal")
    try:
        return any(n.endswith(".wal") for n in os.listdir(wal_dir))
    except (IOError, OSError):
        return False
