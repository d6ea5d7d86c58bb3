# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The node program of the defragmentation timer (etcd_ramdisk.defrag): the RAM-disk detection and the journal
line, and a config that cannot reach etcd fails closed with a message (exit 1, state written)."""

import json
import os

import pytest

from etcd_ramdisk import defrag

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /var/lib/etcd rw,nosuid,nodev,noexec,noatime shared:20 - tmpfs tmpfs rw,size=2621440k
41 22 8:1 /srv /var/lib/other\\040dir rw,relatime shared:1 - ext4 /dev/sda1 rw
"""


@pytest.mark.parametrize('path,is_tmpfs', [('/var/lib/etcd', True), ('/var/lib/other dir', False), ('/', False),
                                           ('/var/lib/etcd2', False)])
def test_tmpfs_detection(tmp_path, monkeypatch, path, is_tmpfs):
    info = tmp_path / 'mountinfo'
    info.write_text(MOUNTINFO)
    monkeypatch.setattr(os, 'statvfs', lambda p: type('S', (), {'f_bavail': 10, 'f_frsize': 4096})())
    monkeypatch.setattr(os.path, 'realpath', lambda p: p)
    assert defrag.tmpfs_free_bytes(path, str(info)) == (40960 if is_tmpfs else None)


SUMMARY_CASES = [
    ({}, 'nothing planned'),
    ({'members': [{'name': 'a', 'defrag': False, 'reasons': ['not selected (members)']}]}, 'nothing to do'),
    ({'members': [{'name': 'a', 'defrag': False, 'reasons': ['no threshold reached']}]},
     'a skipped: no threshold reached'),
    ({'members': [{'name': 'a', 'defrag': True, 'defragmented': True, 'before': {'db_size': 100},
                   'after': {'db_size': 10}, 'seconds': 0.5, 'moved_leadership_to': 'b', 'reasons': []}],
      'compaction': {'target': 7, 'compacted': True}},
     'compaction to 7: done; a defragmented 100 -> 10 bytes in 0.5s (leadership moved to b first)'),
]


@pytest.mark.parametrize('result,line', SUMMARY_CASES)
def test_summary(result, line):
    assert defrag.summary(result) == line


def test_unreachable_cluster_fails_closed(tmp_path, capsys):
    cfg = {'cluster': 'etcd', 'member': 'etcd1', 'data_dir': str(tmp_path),
           'client': {'endpoints': ['http://127.0.0.1:9'], 'timeout': 1}, 'wait_timeout': 1,
           'state_file': str(tmp_path / 'state.json'), 'lock_file': str(tmp_path / 'lock')}
    path = tmp_path / 'cfg.json'
    path.write_text(json.dumps(cfg))
    assert defrag.main(['--config', str(path)]) == 1
    state = json.loads((tmp_path / 'state.json').read_text())
    assert not state['ok'] and state['message'].startswith('FAILED') and state['member'] == 'etcd1'
    assert 'FAILED' in capsys.readouterr().err
