# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""etcdutl restore arguments, finding the cluster's own etcdutl, and the atomic swap-in."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _restore as rs

ARGV = [
    ('minimal', {}, []),
    ('member', dict(name='etcd1', initial_cluster=['etcd1=https://a:2380', ' etcd2=https://b:2380 '],
                    initial_cluster_token='tok', initial_advertise_peer_urls=['https://a:2380']),
     ['--name', 'etcd1', '--initial-cluster', 'etcd1=https://a:2380,etcd2=https://b:2380',
      '--initial-cluster-token', 'tok', '--initial-advertise-peer-urls', 'https://a:2380']),
    ('string cluster', dict(initial_cluster='a=https://a:2380'), ['--initial-cluster', 'a=https://a:2380']),
    ('wal dir', dict(wal_dir='/w'), ['--wal-dir', '/w']),
    ('bump', dict(bump_revision=1000, mark_compacted=True), ['--bump-revision', '1000', '--mark-compacted']),
    ('bump zero', dict(bump_revision=0), ['--bump-revision', '0']),
    ('skip hash', dict(skip_hash_check=True), ['--skip-hash-check']),
]


@pytest.mark.parametrize('kwargs, tail', [a[1:] for a in ARGV], ids=[a[0] for a in ARGV])
def test_restore_argv(kwargs, tail):
    argv = rs.restore_argv('/bin/etcdutl', '/s.db', '/d', rs.restore_params(**kwargs))
    assert argv == ['/bin/etcdutl', 'snapshot', 'restore', '/s.db', '--data-dir', '/d'] + tail


@pytest.mark.parametrize('kwargs, problem', [
    (dict(bump_revision=-1), 'bump_revision must be >= 0'),
    (dict(mark_compacted=True), 'mark_compacted needs bump_revision'),
    (dict(bump_revision=5, mark_compacted=True), None),
])
def test_check_params(kwargs, problem):
    problems = rs.check_params(rs.restore_params(**kwargs))
    assert (problem in problems[0]) if problem else problems == []


def test_parse_status():
    assert rs.parse_status('{"hash":1,"revision":42,"totalKey":3,"totalSize":20480}') == dict(
        hash=1, revision=42, total_keys=3, total_size=20480)
    assert rs.parse_status('no json') is None and rs.parse_status('[1]') is None


def test_supports_flags():
    assert rs.supports_flags('  --bump-revision uint\n  --mark-compacted\n')
    assert not rs.supports_flags('  --skip-hash-check\n')


def exe(path):
    path.write_text('#!/bin/sh\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_find_etcdutl_from_the_unit_that_serves_the_data_dir(tmp_path):
    units = tmp_path / 'units'
    units.mkdir()
    for cluster in ('a', 'b'):
        bindir = tmp_path / ('opt/%s-current' % cluster)
        bindir.mkdir(parents=True)
        exe(bindir / 'etcd')
        exe(bindir / 'etcdutl')
        conf = tmp_path / ('%s.conf.yml' % cluster)
        conf.write_text('name: x\ndata-dir: /var/lib/etcd-%s\n' % cluster)
        (units / ('etcd-%s.service' % cluster)).write_text(
            '[Service]\nExecStart=%s/etcd --config-file %s\n' % (bindir, conf))
    path, how = rs.find_etcdutl('/var/lib/etcd-b/', path_dirs=[], unit_dirs=[str(units)],
                                role_glob=str(tmp_path / 'opt/*-current'))
    assert path == str(tmp_path / 'opt/b-current/etcdutl') and 'systemd unit' in how
    # unknown data dir: two installs are ambiguous
    path, how = rs.find_etcdutl('/elsewhere', path_dirs=[], unit_dirs=[str(units)],
                                role_glob=str(tmp_path / 'opt/*-current'))
    assert path is None and 'several installs' in how
    # search path wins over the install glob
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    exe(bindir / 'etcdutl')
    assert rs.find_etcdutl(None, path_dirs=[str(bindir)], unit_dirs=[])[0] == str(bindir / 'etcdutl')


def test_find_etcdutl_data_dir_flag(tmp_path):
    units = tmp_path / 'units'
    units.mkdir()
    exe(tmp_path / 'etcd')
    exe(tmp_path / 'etcdutl')
    (units / 'x.service').write_text('ExecStart=-%s/etcd --name=x --data-dir=/d1\n' % tmp_path)
    assert rs.find_etcdutl('/d1', path_dirs=[], unit_dirs=[str(units)], role_glob='/nonexistent/*')[0] == \
        str(tmp_path / 'etcdutl')
    assert rs.find_etcdutl('/d2', path_dirs=[], unit_dirs=[str(units)], role_glob='/nonexistent/*')[0] is None


def restored(tmp_root):
    target = os.path.join(tmp_root, 'data')
    os.makedirs(os.path.join(target, 'member', 'snap'))
    open(os.path.join(target, 'member', 'snap', 'db'), 'w').close()
    return target


def test_swap_in_missing_empty_and_nonempty(tmp_path):
    data = str(tmp_path / 'data')
    tmp_root, target = rs.temp_target(data)
    rs.swap_in(restored(tmp_root), data)
    assert os.path.isfile(os.path.join(data, 'member', 'snap', 'db'))
    os.rmdir(tmp_root)
    # non-empty without a backup dir: refused, untouched
    tmp_root, target = rs.temp_target(data)
    with pytest.raises(rs.RestoreError, match='not empty'):
        rs.swap_in(restored(tmp_root), data)
    assert os.path.isfile(os.path.join(data, 'member', 'snap', 'db'))
    open(os.path.join(data, 'old-marker'), 'w').close()
    rs.swap_in(target, data, backup_dir=data + '.old')
    assert os.listdir(data) == ['member'] and os.path.exists(data + '.old/old-marker')
    # empty dir
    empty = str(tmp_path / 'empty')
    os.mkdir(empty)
    tmp_root, target = rs.temp_target(empty)
    rs.swap_in(restored(tmp_root), empty)
    assert os.listdir(empty) == ['member']


def test_restore_runs_etcdutl_and_cleans_up(tmp_path):
    data = str(tmp_path / 'data')
    calls = []

    def runner(argv):
        calls.append(argv)
        target = argv[argv.index('--data-dir') + 1]
        os.makedirs(os.path.join(target, 'member'))
        return 0, '', ''

    rs.restore('/bin/etcdutl', '/s.db', data, rs.restore_params(name='n'), runner=runner)
    assert os.listdir(data) == ['member'] and calls[0][:4] == ['/bin/etcdutl', 'snapshot', 'restore', '/s.db']
    assert sorted(os.listdir(str(tmp_path))) == ['data']

    def failing(argv):
        return 1, '', 'Error: snapshot file has wrong size'

    with pytest.raises(rs.RestoreError, match='wrong size'):
        rs.restore('/bin/etcdutl', '/s.db', str(tmp_path / 'other'), rs.restore_params(), runner=failing)
    assert sorted(os.listdir(str(tmp_path))) == ['data']
