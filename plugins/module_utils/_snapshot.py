# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Snapshot files: naming, sidecars, SHA-256 trailer (standard library only).

An etcd (>= 3.3) snapshot stream is the bbolt database followed by a 32-byte SHA-256 digest of everything before
it; ``etcdutl snapshot restore`` recognises the trailer by ``size % 512 == 32`` (bbolt pages are multiples of
512 bytes) and checks it.  We keep the trailer in the saved file so that check still works at restore time.

File layout in ``dest_dir`` for one snapshot::

    <prefix>-<YYYYmmddTHHMMSSZ>-r<revision>.db        the snapshot (with trailer)
    <prefix>-<YYYYmmddTHHMMSSZ>-r<revision>.db.json   metadata sidecar (sha256 of the whole .db file, ...)
    <prefix>-<YYYYmmddTHHMMSSZ>-r<revision>.db.part   while streaming (never a valid snapshot)
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import hashlib
import json
import os
import re

TRAILER_SIZE = 32
SIDECAR_SUFFIX = '.json'
PART_SUFFIX = '.part'
TIME_FORMAT = '%Y%m%dT%H%M%SZ'
_UTC = datetime.timezone.utc
_CHUNK = 1024 * 1024


class SnapshotFileError(Exception):
    """A snapshot file that is missing, unreadable or fails its integrity checks."""


def snapshot_basename(prefix, when, revision):
    """``<prefix>-20261121T210000Z-r<revision>.db``; ``when`` is an aware datetime (converted to UTC)."""
    return '%s-%s-r%d.db' % (prefix, when.astimezone(_UTC).strftime(TIME_FORMAT), int(revision))


def parse_name(prefix, filename):
    """Return ``(base, time, revision, kind)`` for a file of this prefix (kind: db, sidecar, part) or None."""
    match = re.match(r'^(%s-(\d{8}T\d{6}Z)-r(\d+)\.db)(%s|%s)?$'
                     % (re.escape(prefix), re.escape(SIDECAR_SUFFIX), re.escape(PART_SUFFIX)), filename)
    if not match:
        return None
    when = datetime.datetime.strptime(match.group(2), TIME_FORMAT).replace(tzinfo=_UTC)
    kind = {None: 'db', SIDECAR_SUFFIX: 'sidecar', PART_SUFFIX: 'part'}[match.group(4)]
    return match.group(1), when, int(match.group(3)), kind


def read_sidecar(path):
    """Parsed sidecar dict, or None when missing or not valid JSON."""
    try:
        with open(path, 'r') as fh:
            data = json.load(fh)
    except (IOError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def scan(dest_dir, prefix):
    """Snapshots of ``prefix`` in ``dest_dir``: list of dicts ``name`` (the .db file name), ``time``, ``revision``,
    ``files`` (existing paths belonging to it), ``verified`` (a .db with a sidecar whose size matches),
    ``sidecar`` (dict or None), ``path`` (the .db path)."""
    entries = {}
    try:
        names = sorted(os.listdir(dest_dir))
    except OSError:
        return []
    for filename in names:
        parsed = parse_name(prefix, filename)
        if not parsed:
            continue
        base, when, revision, kind = parsed
        entry = entries.setdefault(base, {'name': base, 'time': when, 'revision': revision, 'files': [],
                                          'kinds': set(), 'path': os.path.join(dest_dir, base)})
        entry['files'].append(os.path.join(dest_dir, filename))
        entry['kinds'].add(kind)
    result = []
    for base in sorted(entries):
        entry = entries[base]
        sidecar = read_sidecar(entry['path'] + SIDECAR_SUFFIX) if 'sidecar' in entry['kinds'] else None
        verified = False
        if 'db' in entry['kinds'] and sidecar and sidecar.get('sha256'):
            try:
                verified = os.path.getsize(entry['path']) == int(sidecar.get('size', -1))
            except (OSError, TypeError, ValueError):
                verified = False
        entry['sidecar'] = sidecar
        entry['verified'] = verified
        del entry['kinds']
        result.append(entry)
    return result


class TrailerHasher(object):
    """Feed the snapshot stream in chunks; computes the SHA-256 of the whole stream and of everything but the last
    32 bytes, to check the trailer etcd appends."""

    def __init__(self):
        self.whole = hashlib.sha256()
        self.body = hashlib.sha256()
        self.tail = b''
        self.size = 0

    def update(self, chunk):
        if not chunk:
            return
        self.whole.update(chunk)
        self.size += len(chunk)
        data = self.tail + chunk
        if len(data) > TRAILER_SIZE:
            self.body.update(data[:-TRAILER_SIZE])
            self.tail = data[-TRAILER_SIZE:]
        else:
            self.tail = data

    def has_trailer(self):
        return self.size > TRAILER_SIZE and self.size % 512 == TRAILER_SIZE

    def trailer_ok(self):
        return self.has_trailer() and self.body.digest() == self.tail

    def check(self):
        """Raise SnapshotFileError unless the trailer is present and matches."""
        if self.size == 0:
            raise SnapshotFileError('the snapshot is empty')
        if not self.has_trailer():
            raise SnapshotFileError('the snapshot has no SHA-256 trailer (%d bytes; expected a size of 32 more '
                                    'than a multiple of 512): it is truncated, or not an etcd >= 3.3 snapshot '
                                    '(a db file copied from a data directory?)' % self.size)
        if self.body.digest() != self.tail:
            raise SnapshotFileError('the SHA-256 trailer does not match the snapshot data (%d bytes): the file is '
                                    'corrupt or truncated' % self.size)

    def hexdigest(self):
        return self.whole.hexdigest()


def hash_file(path):
    """TrailerHasher over a whole file (raises SnapshotFileError when it cannot be read)."""
    hasher = TrailerHasher()
    try:
        with open(path, 'rb') as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                hasher.update(chunk)
    except (IOError, OSError) as exc:
        raise SnapshotFileError('cannot read %s: %s' % (path, exc))
    return hasher


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path, data, mode=0o600):
    """Write JSON to ``path`` through a temporary file, fsync, rename, fsync the directory."""
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, 'w') as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write('\n')
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, path)
    except Exception:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(os.path.dirname(os.path.abspath(path)))
