# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""File utilities of the etcd core (standard library only): durable, atomic writes and copies.

"Durable" means: data fsynced, renamed into place, the directory fsynced, so after a power loss a file is
either the old one or the complete new one.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import json
import os
import shutil

CHUNK = 1024 * 1024
_UTC = datetime.timezone.utc
ISO_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


def utc_now():
    """Aware UTC datetime without microseconds."""
    return datetime.datetime.now(_UTC).replace(microsecond=0)


def iso_utc(when=None):
    """``2026-11-21T21:00:00Z`` for an aware (or naive = UTC) datetime; now when None."""
    when = when or utc_now()
    if when.tzinfo is None:
        when = when.replace(tzinfo=_UTC)
    return when.astimezone(_UTC).strftime(ISO_FORMAT)


def parse_iso_utc(text):
    """Inverse of ``iso_utc`` (also accepts fractional seconds and ``+00:00``); None when not parseable."""
    if not text or not isinstance(text, str):
        return None
    value = text.strip().replace('Z', '+00:00')
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_UTC)
    return when.astimezone(_UTC)


def fsync_dir(path):
    fd = os.open(path or '.', os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path, text, mode=0o600):
    """Write ``text`` to ``path`` through a temporary file in the same directory, fsync, rename, fsync the dir.

    The temporary name ends in ``.tmp-<pid>``, so readers that pick files by suffix (node_exporter's textfile
    collector reads ``*.prom``) never see a half-written file."""
    tmp = '%s.tmp-%d' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, 'w') as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(os.path.dirname(os.path.abspath(path)))


def write_json_atomic(path, data, mode=0o600):
    """Write JSON to ``path`` atomically (``write_text_atomic``)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + '\n', mode)


def read_json(path):
    """Parsed JSON object (dict) of ``path``, or None when missing, unreadable, not JSON or not an object."""
    try:
        with open(path, 'r') as fh:
            data = json.load(fh)
    except (IOError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def copy_tree_durable(src, dst, skip=(), skip_prefixes=()):
    """Copy regular files and directories from ``src`` into the new directory ``dst`` (mode 0700, files 0600;
    no links, xattrs, labels or ACLs), fsync everything. All-zero blocks (the preallocated tail of WAL segments)
    become holes. Returns the number of bytes written."""
    os.makedirs(dst, mode=0o700)
    total = 0
    for name in sorted(os.listdir(src)):
        if name in skip or any(name.startswith(p) for p in skip_prefixes):
            continue
        s_path = os.path.join(src, name)
        d_path = os.path.join(dst, name)
        if os.path.isdir(s_path) and not os.path.islink(s_path):
            total += copy_tree_durable(s_path, d_path, skip_prefixes=skip_prefixes)
        elif os.path.isfile(s_path) and not os.path.islink(s_path):
            with open(s_path, 'rb') as fin, open(d_path, 'wb') as fout:
                os.fchmod(fout.fileno(), 0o600)
                size = 0
                while True:
                    block = fin.read(CHUNK)
                    if not block:
                        break
                    size += len(block)
                    if block.count(0) == len(block):
                        fout.seek(len(block), os.SEEK_CUR)
                    else:
                        fout.write(block)
                        total += len(block)
                fout.truncate(size)
                fout.flush()
                os.fsync(fout.fileno())
    fsync_dir(dst)
    return total


def chown_tree(root, uid=None, gid=None, dir_mode=0o700, file_mode=0o600):
    """Owner and modes for a whole tree (``None`` keeps the owner/group)."""
    for cur, dirs, files in os.walk(root):
        paths = [(cur, dir_mode)] + [(os.path.join(cur, n), file_mode) for n in files]
        for path, mode in paths:
            if uid is not None or gid is not None:
                os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
            if mode is not None:
                os.chmod(path, mode)


def clear_dir(path):
    """Remove everything inside ``path`` (not ``path`` itself)."""
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)


def dir_state(path):
    """'missing', 'file', 'empty' or 'nonempty'."""
    if not os.path.lexists(path):
        return 'missing'
    if not os.path.isdir(path):
        return 'file'
    return 'nonempty' if os.listdir(path) else 'empty'


def open_by_processes(path):
    """PIDs of processes with a file open below ``path`` (Linux /proc; empty elsewhere)."""
    path = os.path.realpath(path)
    pids = []
    try:
        entries = os.listdir('/proc')
    except OSError:
        return pids
    for pid in entries:
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        fd_dir = os.path.join('/proc', pid, 'fd')
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target == path or target.startswith(path + os.sep):
                pids.append(int(pid))
                break
    return pids
