# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Read-only probe of an etcd member host, run by the role as ONE remote command (instead of a stat, slurp,
systemd and ss task each, and one stat per managed file): prints JSON with

- files: {path: {exists, type (file|link|dir|other), mode ('0644'), owner, group, mtime, sha1 (regular files), target}}
- texts: {path: content or null} (small regular files the role reads: ownership markers, etcd.conf.yml)
- user: {exists, home, shell, comment} of the service user
- unit: ActiveState, UnitFileState and MainPID of the service (systemctl show), and `started`: when MainPID started
  (Unix time), so the role can tell a running etcd that predates its TLS files
- listeners: lines of `ss -Htlnp`

Argument: a JSON object {"files": [...], "texts": [...], "user": NAME, "unit": NAME}. Standard library only.
"""

from __future__ import (absolute_import, division, print_function)

import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess
import sys

__metaclass__ = type

MAX_TEXT = 1 << 20


def _name(getter, num):
    try:
        return getter(num)[0]
    except KeyError:
        return str(num)


def describe(path):
    try:
        st = os.lstat(path)
    except OSError:
        return {'exists': False}
    out = {'exists': True, 'mode': '%04o' % stat.S_IMODE(st.st_mode),
           'owner': _name(pwd.getpwuid, st.st_uid), 'group': _name(grp.getgrgid, st.st_gid),
           'mtime': st.st_mtime}
    if stat.S_ISLNK(st.st_mode):
        out['type'] = 'link'
        out['target'] = os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        out['type'] = 'dir'
    elif stat.S_ISREG(st.st_mode):
        out['type'] = 'file'
        digest = hashlib.sha1()
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 16), b''):
                digest.update(chunk)
        out['sha1'] = digest.hexdigest()
    else:
        out['type'] = 'other'
    return out


def read_text(path):
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        with open(path, 'rb') as f:
            return f.read(MAX_TEXT).decode('utf-8', 'replace')
    except OSError:
        return None


def process_start(pid):
    """Start of process pid as a Unix time (float), or None: /proc/<pid>/stat field 22 (clock ticks after boot)
    plus the boot time (btime in /proc/stat)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        with open('/proc/stat') as f:
            btime = [int(line.split()[1]) for line in f if line.startswith('btime ')][0]
        return btime + int(fields[19]) / float(os.sysconf('SC_CLK_TCK'))
    except (OSError, IndexError, ValueError):
        return None


def run(argv):
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False,
                              universal_newlines=True).stdout
    except OSError:
        return ''


def main():
    req = json.loads(sys.argv[1])
    out = {'files': {p: describe(p) for p in req.get('files', [])},
           'texts': {p: read_text(p) for p in req.get('texts', [])}}
    try:
        pw = pwd.getpwnam(req['user'])
        out['user'] = {'exists': True, 'home': pw.pw_dir, 'shell': pw.pw_shell, 'comment': pw.pw_gecos}
    except KeyError:
        out['user'] = {'exists': False}
    unit = {}
    for line in run(['systemctl', 'show', '--property=ActiveState,UnitFileState,MainPID', '--',
                     req['unit'] + '.service']).splitlines():
        key, sep, value = line.partition('=')
        if sep:
            unit[key] = value
    if unit.get('MainPID', '0').isdigit() and int(unit.get('MainPID', '0')) > 0:
        unit['started'] = process_start(int(unit['MainPID']))
    out['unit'] = unit
    out['listeners'] = [line for line in run(['ss', '-Htlnp']).splitlines() if line.strip()]
    print(json.dumps(out, sort_keys=True))


if __name__ == '__main__':
    main()
