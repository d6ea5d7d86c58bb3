# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Snapshot store (standard library only): save from a stream, verify, scan, prune - one sidecar schema.

An etcd (>= 3.3) snapshot stream is the bbolt database followed by a 32-byte SHA-256 digest of everything before
it; ``etcdutl snapshot restore`` recognises the trailer by ``size % 512 == 32`` (bbolt pages are multiples of
512 bytes) and checks it. The trailer stays in the saved file so that check still works at restore time.

Files in a snapshot directory, for one snapshot::

    <prefix>-<YYYYmmddTHHMMSSZ>-r<revision>.db        the snapshot (with trailer)
    <prefix>-<YYYYmmddTHHMMSSZ>-r<revision>.db.json   the sidecar (SIDECAR_SCHEMA, below)
    <prefix>-<YYYYmmddTHHMMSSZ>-r<revision>.db.part   while streaming (never a valid snapshot)

The sidecar (``SIDECAR_SCHEMA``): ``schema``, ``file`` (base name of the .db), ``size``, ``sha256`` (of the
whole file, as sha256sum prints it), ``revision``, ``cluster_id``, ``member_id`` (16 hex digits or None),
``member_name``, ``etcd_version``, ``created`` (UTC, ``2026-11-21T21:00:00Z``), ``endpoint``.

Older sidecars are read and normalized to that schema (``read_sidecar``):

- the etcd_snapshot module before schema 1: ``<file>.db.json`` with ``name``, ``time``, ``member_id``,
  ``member_name``, ``endpoint``, ``etcd_version``, ``sha256``, ``size``, ``revision``, ``cluster_id``;
- the RAM-disk helper before it used this store: ``<base>.json`` next to ``<base>.db`` (``snapshot-...-r<rev>``)
  with ``verified``, ``revision``, ``hash``, ``total_keys``, ``size``, ``sha256``, ``time``, ``member``,
  ``endpoint`` (no cluster id).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import fcntl
import hashlib
import os
import re

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import (
    CHUNK,
    fsync_dir,
    iso_utc,
    parse_iso_utc,
    read_json,
    write_json_atomic,
)
from ansible_collections.etcdkit.etcd.plugins.module_utils._retention import plan_retention

TRAILER_SIZE = 32
SIDECAR_SCHEMA = 'etcdkit.snapshot/1'
SIDECAR_SUFFIX = '.json'
PART_SUFFIX = '.part'
TIME_FORMAT = '%Y%m%dT%H%M%SZ'
FORMAT_V1 = 'v1'
FORMAT_MODULE_LEGACY = 'module-legacy'
FORMAT_RAMDISK_LEGACY = 'ramdisk-legacy'
SIDECAR_FIELDS = ('schema', 'file', 'size', 'sha256', 'revision', 'cluster_id', 'member_id', 'member_name',
                  'etcd_version', 'created', 'endpoint')
_UTC = datetime.timezone.utc
_NAME = r'(?P<base>(?P<prefix>%s)-(?P<time>\d{8}T\d{6}Z)-r(?P<rev>\d+))(?P<suffix>\.db|\.db\.json|\.db\.part|\.json)$'
_KINDS = {'.db': 'db', '.db.json': 'sidecar', '.db.part': 'part', '.json': 'legacy_sidecar'}


class SnapshotFileError(CoreError):
    """A snapshot file that is missing, unreadable or fails its integrity checks."""


# --------------------------------------------------------------------------------------------- names

def valid_prefix(prefix):
    """A prefix is letters, digits, '.', '_' and '-' (it ends up in file names and in a regular expression)."""
    return bool(prefix) and re.match(r'^[A-Za-z0-9._-]+$', prefix) is not None


def lock_dir(dest_dir, prefix):
    """Take the exclusive lock ``<dest_dir>/.<prefix>.lock`` (non-blocking) for writers of this prefix; returns
    the open file (close it, or exit, to release). Raises SnapshotFileError when another writer holds it."""
    try:
        handle = open(os.path.join(dest_dir, '.%s.lock' % prefix), 'a')
    except (IOError, OSError) as exc:
        raise SnapshotFileError('Cannot create the lock file in %s: %s' % (dest_dir, exc))
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (IOError, OSError) as exc:
        handle.close()
        raise SnapshotFileError('Another writer holds the lock on %s (prefix %s): %s' % (dest_dir, prefix, exc))
    return handle


def snapshot_basename(prefix, when, revision):
    """``<prefix>-20261121T210000Z-r<revision>.db``; ``when`` is an aware datetime (converted to UTC)."""
    return '%s-%s-r%d.db' % (prefix, when.astimezone(_UTC).strftime(TIME_FORMAT), int(revision))


def parse_name(prefix, filename):
    """``(db name, time, revision, kind)`` for a file of ``prefix`` (None: any prefix), else None.
    kind: ``db``, ``sidecar`` (``.db.json``), ``part`` or ``legacy_sidecar`` (the RAM-disk helper's ``.json``)."""
    pat = _NAME % (re.escape(prefix) if prefix is not None else r'[A-Za-z0-9._-]+?')
    match = re.match('^' + pat, filename)
    if not match:
        return None
    when = datetime.datetime.strptime(match.group('time'), TIME_FORMAT).replace(tzinfo=_UTC)
    return match.group('base') + '.db', when, int(match.group('rev')), _KINDS[match.group('suffix')]


# ------------------------------------------------------------------------------------------- sidecars

def make_sidecar(file_name, size, sha256, revision, cluster_id=None, member_id=None, member_name=None,
                 etcd_version=None, created=None, endpoint=None, **extra):
    """A schema-1 sidecar dict. Ids are 16-hex-digit strings; ``created`` a datetime or ISO text (now)."""
    if created is None or isinstance(created, datetime.datetime):
        created = iso_utc(created)
    data = dict(schema=SIDECAR_SCHEMA, file=file_name, size=int(size), sha256=sha256, revision=int(revision),
                cluster_id=cluster_id, member_id=member_id, member_name=member_name, etcd_version=etcd_version,
                created=created, endpoint=endpoint)
    data.update(extra)
    return data


def normalize_sidecar(raw, db_name, fmt=None):
    """``(schema-1 dict, format)`` for a parsed sidecar of any known format, or ``(None, None)``."""
    if not isinstance(raw, dict):
        return None, None
    if raw.get('schema') == SIDECAR_SCHEMA:
        return dict(raw), FORMAT_V1
    if fmt == FORMAT_RAMDISK_LEGACY or ('member' in raw and 'verified' in raw):
        if not raw.get('verified'):
            return None, None
        data = make_sidecar(db_name, raw.get('size') or 0, raw.get('sha256'), raw.get('revision') or 0,
                            member_name=raw.get('member'), created=raw.get('time'), endpoint=raw.get('endpoint'),
                            hash=raw.get('hash'), total_keys=raw.get('total_keys'))
        return data, FORMAT_RAMDISK_LEGACY
    data = make_sidecar(db_name, raw.get('size') or 0, raw.get('sha256'), raw.get('revision') or 0,
                        cluster_id=raw.get('cluster_id'), member_id=raw.get('member_id'),
                        member_name=raw.get('member_name'), etcd_version=raw.get('etcd_version'),
                        created=raw.get('time'), endpoint=raw.get('endpoint'))
    return data, FORMAT_MODULE_LEGACY


def sidecar_paths(db_path):
    """Where a sidecar of ``db_path`` may be: ``[(path, format hint)]``, the current location first."""
    out = [(db_path + SIDECAR_SUFFIX, None)]
    if db_path.endswith('.db'):
        out.append((db_path[:-3] + SIDECAR_SUFFIX, FORMAT_RAMDISK_LEGACY))
    return out


def read_sidecar(db_path):
    """``(schema-1 dict or None, format or None, sidecar path or None)`` for the snapshot ``db_path``.
    A sidecar that exists but is not valid JSON gives ``(None, 'invalid', path)``."""
    for path, hint in sidecar_paths(db_path):
        if not os.path.exists(path):
            continue
        raw = read_json(path)
        if raw is None:
            return None, 'invalid', path
        data, fmt = normalize_sidecar(raw, os.path.basename(db_path), hint)
        return data, fmt, path
    return None, None, None


# ------------------------------------------------------------------------------------------- trailer

class TrailerHasher(object):
    """Feed the snapshot stream in chunks; SHA-256 of the whole stream and of all but the last 32 bytes.

    Only the body is hashed as it comes: the whole stream's digest is a copy of that state fed the held-back
    last 32 bytes (one SHA-256 pass over the data, not two)."""

    def __init__(self):
        self.body = hashlib.sha256()
        self.tail = b''
        self.size = 0

    def update(self, chunk):
        if not chunk:
            return
        self.size += len(chunk)
        if len(chunk) >= TRAILER_SIZE:
            if self.tail:
                self.body.update(self.tail)
            view = memoryview(chunk)
            self.body.update(view[:-TRAILER_SIZE])
            self.tail = bytes(view[-TRAILER_SIZE:])
            return
        data = self.tail + chunk
        if len(data) > TRAILER_SIZE:
            self.body.update(data[:-TRAILER_SIZE])
            data = data[-TRAILER_SIZE:]
        self.tail = data

    @property
    def whole(self):
        digest = self.body.copy()
        digest.update(self.tail)
        return digest

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
                chunk = fh.read(CHUNK)
                if not chunk:
                    break
                hasher.update(chunk)
    except (IOError, OSError) as exc:
        raise SnapshotFileError('cannot read %s: %s' % (path, exc))
    return hasher


def verify_file(path, check_trailer=True, use_sidecar=True):
    """Verify a snapshot file: readable, trailer (unless ``check_trailer=False``), and the size and sha256 of its
    sidecar when there is one. Returns ``{'path', 'sha256', 'size', 'sidecar', 'sidecar_format',
    'sidecar_path'}``; raises SnapshotFileError saying what is wrong."""
    if not os.path.exists(path):
        raise SnapshotFileError('%s does not exist' % path)
    if not os.path.isfile(path):
        raise SnapshotFileError('%s is not a regular file' % path)
    hasher = hash_file(path)
    if check_trailer:
        hasher.check()
    sidecar, fmt, side_path = read_sidecar(path) if use_sidecar else (None, None, None)
    if fmt == 'invalid':
        raise SnapshotFileError('its metadata sidecar %s is not valid JSON' % side_path)
    if sidecar and sidecar.get('sha256') and sidecar['sha256'] != hasher.hexdigest():
        raise SnapshotFileError('it does not match its metadata sidecar %s (sha256 %s, expected %s): the file is '
                                'corrupt or was replaced' % (side_path, hasher.hexdigest(), sidecar['sha256']))
    return dict(path=path, sha256=hasher.hexdigest(), size=hasher.size, sidecar=sidecar, sidecar_format=fmt,
                sidecar_path=side_path)


# ------------------------------------------------------------------------------------------------ save

def save_stream(chunks, dest_dir, base, sidecar_fields, mode=0o600):
    """Stream ``chunks`` (iterable of bytes, e.g. ``EtcdClient.snapshot(endpoint)``) to ``<base>.part``, verify
    the trailer, fsync, rename to ``<base>``, fsync the directory and write the schema-1 sidecar
    ``<base>.json`` built from ``sidecar_fields`` (``make_sidecar`` arguments except file/size/sha256).

    Returns the sidecar dict. On any failure the part file is removed and nothing else is touched; a bad
    trailer raises SnapshotFileError, transport problems raise what the chunk iterator raised."""
    path = os.path.join(dest_dir, base)
    part = path + PART_SUFFIX
    hasher = TrailerHasher()
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, 'wb') as fh:
            os.fchmod(fh.fileno(), mode)
            for chunk in chunks:
                fh.write(chunk)
                hasher.update(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        hasher.check()
        os.rename(part, path)
    except BaseException:
        try:
            os.unlink(part)
        except OSError:
            pass
        raise
    fsync_dir(dest_dir)
    sidecar = make_sidecar(base, hasher.size, hasher.hexdigest(), **sidecar_fields)
    write_json_atomic(path + SIDECAR_SUFFIX, sidecar, mode=mode)
    return sidecar


# ------------------------------------------------------------------------------------------------ scan

def scan(dest_dir, prefix=None):
    """Snapshots in ``dest_dir`` (of ``prefix``; None = any ``<prefix>-<time>-r<rev>.db``), sorted by name.

    Each: ``name`` (the .db file name), ``path`` (the .db path), ``time`` (from the name, aware UTC),
    ``revision`` (from the sidecar, else the name), ``files`` (every existing file of it: db, sidecars, part),
    ``sidecar`` (schema-1 dict or None), ``sidecar_format`` (v1, module-legacy, ramdisk-legacy, invalid or None),
    ``cluster_id`` (hex or None) and ``verified`` (a .db with a sidecar whose sha256 is set and whose size
    matches the file; the cheap check - ``verify_file`` reads the data)."""
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
        entry = entries.pop(base)
        kinds = entry.pop('kinds')
        if kinds == set(['legacy_sidecar']):
            continue  # a .json of something else, or a sidecar whose snapshot is gone: not ours to judge
        sidecar, fmt, dummy = read_sidecar(entry['path']) if kinds & set(['sidecar', 'legacy_sidecar']) \
            else (None, None, None)
        verified = False
        if 'db' in kinds and sidecar and sidecar.get('sha256'):
            try:
                verified = os.path.getsize(entry['path']) == int(sidecar.get('size', -1))
            except (OSError, TypeError, ValueError):
                verified = False
        if sidecar:
            entry['revision'] = int(sidecar.get('revision') or entry['revision'])
            created = parse_iso_utc(sidecar.get('created'))
            entry['created'] = created or entry['time']
        else:
            entry['created'] = entry['time']
        entry.update(sidecar=sidecar, sidecar_format=fmt, verified=verified,
                     cluster_id=(sidecar or {}).get('cluster_id'))
        result.append(entry)
    return result


def newest_verified(entries, cluster_id=None):
    """The verified entry with the highest revision (then newest time) of ``cluster_id`` (None: any)."""
    best = None
    for entry in entries:
        if not entry['verified'] or (cluster_id is not None and entry.get('cluster_id') != cluster_id):
            continue
        if best is None or (entry['revision'], entry['time'], entry['name']) > \
                (best['revision'], best['time'], best['name']):
            best = entry
    return best


def plan_prune(entries, policy=None, now=None):
    """Retention plan over scanned entries: ``{'keep': [{'name', 'reasons'}], 'prune': [{'name', 'reason',
    'files'}]}`` (see ``_retention.plan_retention``)."""
    plan = plan_retention(entries, policy, now)
    by_name = dict((e['name'], e) for e in entries)
    return dict(keep=[dict(name=k['name'], reasons=k['reasons']) for k in plan['keep']],
                prune=[dict(name=p['name'], reason=p['reason'], files=sorted(by_name[p['name']]['files']))
                       for p in plan['prune']])


def prune(dest_dir, plan):
    """Delete the files of ``plan['prune']`` (from ``plan_prune``); a file already gone is fine. Raises OSError
    when a file cannot be removed. fsyncs the directory."""
    for item in plan['prune']:
        for path in item['files']:
            try:
                os.unlink(path)
            except OSError:
                if os.path.exists(path):
                    raise
    if plan['prune']:
        fsync_dir(dest_dir)
