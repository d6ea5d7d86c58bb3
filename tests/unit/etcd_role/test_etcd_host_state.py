# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""roles/etcd/files/etcd_host_state.py: the file mtime and the process start time the role compares to restart a
member whose running etcd predates its TLS files (an interrupted certificate rotation)."""

import importlib.util
import os
import subprocess
import sys
import time

_PATH = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'etcd', 'files',
                                     'etcd_host_state.py'))
_spec = importlib.util.spec_from_file_location('etcd_host_state', _PATH)
hs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hs)


def test_process_start_of_a_new_process_is_now():
    before = time.time()
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(5)'])
    try:
        started = hs.process_start(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    # clock ticks (1/100 s) and the whole-second boot time: within a second or two of the real start
    assert started is not None and before - 2 <= started <= time.time() + 2


def test_process_start_orders_an_older_process_first():
    older = hs.process_start(os.getpid())
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(5)'])
    try:
        newer = hs.process_start(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert older is not None and newer is not None and older <= newer


def test_process_start_of_a_missing_process_is_none():
    assert hs.process_start(2 ** 22 + 12345) is None


def test_describe_reports_the_mtime(tmp_path):
    f = tmp_path / 'ca.crt'
    f.write_text('x')
    os.utime(str(f), (1000000000, 1000000000))
    d = hs.describe(str(f))
    assert d['type'] == 'file' and d['mtime'] == 1000000000
    assert hs.describe(str(tmp_path / 'missing')) == {'exists': False}
