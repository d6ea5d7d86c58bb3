# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Pack one helper version into a single tar on the controller (tasks/install_lib.yml; standard library only).

Copying the helper package and the core file by file costs one module run per file and host; one tar is one
transfer per host. Arguments: OUT, a JSON list of [source path, path in the version dir], a JSON list of package
dirs that get an empty ``__init__.py`` when the sources have none. Every entry is owned by root, directories
0755, files 0644. OUT is written to a temporary file in its directory (0700, created when missing) and renamed,
so runs side by side on one controller never read half a file.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import io
import json
import os
import sys
import tarfile
import tempfile
import time


def _info(name, mode, size=0, kind=tarfile.REGTYPE, mtime=0):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = 'root'
    return info


def pack(out, pairs, packages):
    entries = {}
    for src, dest in pairs:
        with open(src, 'rb') as fh:
            entries[dest] = fh.read()
    for package in packages:
        entries.setdefault(package + '/__init__.py', b'')
    dirs = set()
    for dest in entries:
        parts = dest.split('/')[:-1]
        dirs.update('/'.join(parts[:i]) for i in range(1, len(parts) + 1))
    outdir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(outdir):
        os.makedirs(outdir, 0o700)
    now = int(time.time())
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(out) + '.', dir=outdir)
    try:
        with os.fdopen(fd, 'wb') as fh:
            with tarfile.open(fileobj=fh, mode='w', format=tarfile.PAX_FORMAT) as tar:
                for name in sorted(dirs):
                    tar.addfile(_info(name, 0o755, kind=tarfile.DIRTYPE, mtime=now))
                for name in sorted(entries):
                    tar.addfile(_info(name, 0o644, len(entries[name]), mtime=now), io.BytesIO(entries[name]))
        os.rename(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv):
    pack(argv[1], json.loads(argv[2]), json.loads(argv[3]))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
