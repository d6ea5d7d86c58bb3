# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""The helper's file operations on data dirs (standard library only).

etcd has no API for a stopped member's files: saving the tmpfs to disk and copying it back are plain file
operations, done durably (fsync of every file and directory) and sparsely (the zero-filled tail of preallocated WAL
segments is not written).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import errno
import fcntl
import os
import shutil

from ansible_collections.etcdkit.etcd.plugins.module_utils._snapshot import fsync_dir

_CHUNK = 1 << 20


def copy_tree_durable(src, dst, skip=()):
    """Copy regular files and directories only (no xattrs, no SELinux labels, no ACLs, no symlinks), fsync
    everything. Entries named in ``skip`` or starting with ``.ramdisk-`` are left out. Returns the number of bytes
    written (all-zero blocks are left as holes)."""
    os.makedirs(dst, mode=0o700)
    total = 0
    for name in sorted(os.listdir(src)):
        if name in skip or name.startswith(".ramdisk-"):
            continue
        source = os.path.join(src, name)
        dest = os.path.join(dst, name)
        if os.path.islink(source):
            continue
        if os.path.isdir(source):
            total += copy_tree_durable(source, dest)
        elif os.path.isfile(source):
            total += _copy_file_sparse(source, dest)
    fsync_dir(dst)
    return total


def _copy_file_sparse(source, dest):
    written = 0
    with open(source, "rb") as fin, open(dest, "wb") as fout:
        os.fchmod(fout.fileno(), 0o600)
        size = 0
        while True:
            chunk = fin.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if chunk.count(0) == len(chunk):
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
                written += len(chunk)
        fout.truncate(size)
        fout.flush()
        os.fsync(fout.fileno())
    return written


def chown_tree(root, uid, gid):
    """Give the whole tree to the etcd user: directories 0700, files 0600."""
    for dirpath, dummy, files in os.walk(root):
        os.chown(dirpath, uid, gid)
        os.chmod(dirpath, 0o700)
        for name in files:
            path = os.path.join(dirpath, name)
            os.chown(path, uid, gid)
            os.chmod(path, 0o600)


def clear_dir(path):
    """Remove everything inside ``path`` (the mount point itself stays)."""
    for name in os.listdir(path):
        entry = os.path.join(path, name)
        if os.path.isdir(entry) and not os.path.islink(entry):
            shutil.rmtree(entry)
        else:
            os.unlink(entry)


def move_contents(src, dst):
    """Rename every entry of ``src`` into ``dst`` (same file system) and remove ``src``."""
    for name in os.listdir(src):
        os.rename(os.path.join(src, name), os.path.join(dst, name))
    os.rmdir(src)


def db_locked(data_dir):
    """Does a process hold bbolt's exclusive flock on ``member/snap/db`` (is the member still running)?"""
    db = os.path.join(data_dir, "member", "snap", "db")
    try:
        fd = os.open(db, os.O_RDONLY)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except (IOError, OSError) as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)


def unescape_mount(text):
    """Undo the octal escapes of /proc/self/mountinfo."""
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def fstype(path, mountinfo="/proc/self/mountinfo"):
    """File system type mounted exactly on ``path`` (the last mount wins), or None."""
    target = os.path.realpath(path)
    found = None
    with open(mountinfo) as handle:
        for line in handle:
            parts = line.split()
            sep = parts.index("-")
            if unescape_mount(parts[4]) == target:
                found = parts[sep + 1]
    return found
