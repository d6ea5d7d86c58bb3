# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Snapshot store: one sidecar schema, readers for the old module and RAM-disk helper sidecars, save, prune."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _snapstore as s
from ansible_collections.etcdkit.etcd.plugins.module_utils import _retention as r

UTC = datetime.timezone.utc
BODY = b'\x01' * 1024
STREAM = BODY + hashlib.sha256(BODY).digest()


def test_save_stream_writes_file_and_schema_1_sidecar(tmp_path):
    base = 'etcd-20261121T210000Z-r42.db'
    side = s.save_stream([STREAM[:100], STREAM[100:]], str(tmp_path), base,
                         dict(revision=42, cluster_id='00000000000000aa', member_id='0000000000000001',
                              member_name='etcd1', etcd_version='3.5.30', endpoint='https://a:2379',
                              created=datetime.datetime(2026, 11, 21, 21, 0, tzinfo=UTC)))
    assert sorted(os.listdir(str(tmp_path))) == [base, base + '.json']
    on_disk = json.load(open(str(tmp_path / (base + '.json'))))
    assert on_disk == side and side['schema'] == s.SIDECAR_SCHEMA
    assert set(s.SIDECAR_FIELDS) <= set(side)
    assert side['size'] == len(STREAM) and side['sha256'] == hashlib.sha256(STREAM).hexdigest()
    assert side['created'] == '2026-11-21T21:00:00Z' and side['file'] == base
    assert s.verify_file(str(tmp_path / base))['sidecar_format'] == s.FORMAT_V1
    assert oct(os.stat(str(tmp_path / base)).st_mode & 0o777) == '0o600'


def test_save_stream_bad_trailer_leaves_nothing(tmp_path):
    with pytest.raises(s.SnapshotFileError):
        s.save_stream([BODY + b'\0' * 32], str(tmp_path), 'x-20261121T210000Z-r1.db', dict(revision=1))
    assert os.listdir(str(tmp_path)) == []


def test_save_stream_transport_error_leaves_nothing(tmp_path):
    def chunks():
        yield STREAM[:10]
        raise IOError('connection reset')
    with pytest.raises(IOError):
        s.save_stream(chunks(), str(tmp_path), 'x-20261121T210000Z-r1.db', dict(revision=1))
    assert os.listdir(str(tmp_path)) == []


def write(tmp_path, name, data=STREAM, side=None, side_name=None):
    (tmp_path / name).write_bytes(data)
    if side is not None:
        (tmp_path / (side_name or name + '.json')).write_text(json.dumps(side))


def test_reads_old_module_and_old_ramdisk_sidecars(tmp_path):
    digest = hashlib.sha256(STREAM).hexdigest()
    write(tmp_path, 'etcd-20261120T210000Z-r10.db', side=dict(
        name='etcd-20261120T210000Z-r10.db', revision=10, cluster_id='00000000000000aa', member_id='01',
        member_name='etcd1', endpoint='https://a:2379', etcd_version='3.5.1', sha256=digest, size=len(STREAM),
        time='2026-11-20T21:00:00Z', trailer='sha256'))
    write(tmp_path, 'snapshot-20261121T210000Z-r12.db', side=dict(
        verified=True, revision=12, hash=123, total_keys=4, size=len(STREAM), sha256=digest,
        time='2026-11-21T21:00:00Z', member='etcd2', endpoint='https://b:2379'),
        side_name='snapshot-20261121T210000Z-r12.json')
    write(tmp_path, 'snapshot-20261122T210000Z-r13.db', side=dict(verified=False, revision=13, member='etcd2',
                                                                  time='2026-11-22T21:00:00Z'),
          side_name='snapshot-20261122T210000Z-r13.json')
    (tmp_path / 'unrelated-20261122T210000Z-r1.json').write_text('{}')
    got = dict((e['name'], e) for e in s.scan(str(tmp_path)))
    assert sorted(got) == ['etcd-20261120T210000Z-r10.db', 'snapshot-20261121T210000Z-r12.db',
                           'snapshot-20261122T210000Z-r13.db']
    mod = got['etcd-20261120T210000Z-r10.db']
    assert mod['sidecar_format'] == s.FORMAT_MODULE_LEGACY and mod['verified'] and mod['cluster_id'] == '00000000000000aa'
    assert mod['sidecar']['member_name'] == 'etcd1' and mod['sidecar']['created'] == '2026-11-20T21:00:00Z'
    ram = got['snapshot-20261121T210000Z-r12.db']
    assert ram['sidecar_format'] == s.FORMAT_RAMDISK_LEGACY and ram['verified'] and ram['cluster_id'] is None
    assert ram['sidecar']['member_name'] == 'etcd2' and ram['sidecar']['total_keys'] == 4
    assert ram['files'] == [str(tmp_path / 'snapshot-20261121T210000Z-r12.db'),
                            str(tmp_path / 'snapshot-20261121T210000Z-r12.json')]
    assert not got['snapshot-20261122T210000Z-r13.db']['verified']  # the helper marked it unverified
    assert s.verify_file(ram['path'])['sidecar_format'] == s.FORMAT_RAMDISK_LEGACY
    assert s.newest_verified(list(got.values()))['name'] == 'snapshot-20261121T210000Z-r12.db'
    assert s.newest_verified(list(got.values()), '00000000000000aa')['name'] == 'etcd-20261120T210000Z-r10.db'
    assert [e['name'] for e in s.scan(str(tmp_path), 'snapshot')] == ['snapshot-20261121T210000Z-r12.db',
                                                                     'snapshot-20261122T210000Z-r13.db']


def test_verify_file_detects_sidecar_mismatch_and_bad_json(tmp_path):
    write(tmp_path, 'etcd-20261120T210000Z-r10.db', side=dict(schema=s.SIDECAR_SCHEMA, sha256='0' * 64,
                                                              size=len(STREAM), revision=10))
    with pytest.raises(s.SnapshotFileError, match='does not match its metadata sidecar'):
        s.verify_file(str(tmp_path / 'etcd-20261120T210000Z-r10.db'))
    (tmp_path / 'etcd-20261120T210000Z-r10.db.json').write_text('{broken')
    with pytest.raises(s.SnapshotFileError, match='not valid JSON'):
        s.verify_file(str(tmp_path / 'etcd-20261120T210000Z-r10.db'))
    with pytest.raises(s.SnapshotFileError, match='does not exist'):
        s.verify_file(str(tmp_path / 'missing.db'))


def test_prune_removes_old_ramdisk_files_with_their_sidecars(tmp_path):
    digest = hashlib.sha256(STREAM).hexdigest()
    for day in range(1, 6):
        name = 'snapshot-202611%02dT210000Z-r%d' % (day, day)
        write(tmp_path, name + '.db', side=dict(verified=True, revision=day, size=len(STREAM), sha256=digest,
                                                time='2026-11-%02dT21:00:00Z' % day, member='m'),
              side_name=name + '.json')
    entries = s.scan(str(tmp_path))
    plan = s.plan_prune(entries, r.policy_from_ramdisk(dict(keep_last=2, keep_daily=0)),
                        datetime.datetime(2026, 11, 6, tzinfo=UTC))
    assert [k['name'] for k in plan['keep']] == ['snapshot-20261105T210000Z-r5.db', 'snapshot-20261104T210000Z-r4.db']
    s.prune(str(tmp_path), plan)
    assert sorted(os.listdir(str(tmp_path))) == ['snapshot-20261104T210000Z-r4.db', 'snapshot-20261104T210000Z-r4.json',
                                                 'snapshot-20261105T210000Z-r5.db', 'snapshot-20261105T210000Z-r5.json']


RAMDISK_POLICY = [
    # (keep_last, keep_daily, snapshot days (newest last), today, kept days) - the helper's old rule table
    (10, 7, [1, 2, 3], 3, [1, 2, 3]),
    (1, 2, [1, 2, 3, 3], 3, [2, 3]),
    (0, 0, [1, 2, 3], 3, [3]),          # at least one is always kept
    (2, 1, [1, 2, 3], 10, [2, 3]),
    (1, 7, [1, 5, 9, 10], 10, [5, 9, 10]),
]


@pytest.mark.parametrize('keep_last, keep_daily, days, today, kept', RAMDISK_POLICY)
def test_policy_from_ramdisk_matches_the_old_rules(keep_last, keep_daily, days, today, kept):
    snaps = [dict(name='s%d-%d' % (d, i), time=datetime.datetime(2026, 11, d, 1 + i, tzinfo=UTC), verified=True)
             for i, d in enumerate(days)]
    plan = r.plan_retention(snaps, r.policy_from_ramdisk(dict(keep_last=keep_last, keep_daily=keep_daily)),
                            datetime.datetime(2026, 11, today, 23, tzinfo=UTC))
    assert sorted(set(k['time'].day for k in plan['keep'])) == kept
