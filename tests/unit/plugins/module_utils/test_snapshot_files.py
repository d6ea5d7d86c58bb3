# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Snapshot file helpers: SHA-256 trailer check over chunked streams, names, directory scan."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _snapstore as s
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import write_json_atomic

UTC = datetime.timezone.utc


def stream(body):
    return body + hashlib.sha256(body).digest()


def feed(data, chunk):
    h = s.TrailerHasher()
    for i in range(0, len(data), chunk):
        h.update(data[i:i + chunk])
    return h


BODY = os.urandom(4096 * 3)


@pytest.mark.parametrize('chunk', [1, 7, 31, 32, 33, 512, 4096, 100000])
def test_trailer_ok_whatever_the_chunking(chunk):
    data = stream(BODY)
    h = feed(data, chunk)
    h.check()
    assert h.trailer_ok() and h.size == len(data)
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()


def flip(data, pos):
    b = bytearray(data)
    b[pos] ^= 1
    return bytes(b)


BAD = [
    ('empty', b'', 'empty'),
    ('no trailer', BODY, 'no SHA-256 trailer'),
    ('truncated', stream(BODY)[:-100], 'no SHA-256 trailer'),
    ('flipped body byte', flip(stream(BODY), 100), 'does not match'),
    ('flipped trailer byte', flip(stream(BODY), len(BODY) + 5), 'does not match'),
    ('wrong trailer', BODY + b'\0' * 32, 'does not match'),
    ('tiny', b'x' * 32, 'no SHA-256 trailer'),
]


@pytest.mark.parametrize('data,words', [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_trailer_bad(data, words):
    h = feed(data, 1000)
    with pytest.raises(s.SnapshotFileError, match=words):
        h.check()


def test_names_roundtrip_and_prefix_isolation():
    when = datetime.datetime(2026, 11, 21, 22, 0, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    name = s.snapshot_basename('etcd', when, 42)
    assert name == 'etcd-20261121T210001Z-r42.db'
    assert s.parse_name('etcd', name) == (name, when, 42, 'db')
    assert s.parse_name('etcd', name + '.json')[3] == 'sidecar'
    assert s.parse_name('etcd', name + '.part')[3] == 'part'
    assert s.parse_name('etcd-prod', name) is None
    assert s.parse_name('etc', name) is None
    assert s.parse_name('etcd', name + '.tmp') is None
    assert s.parse_name('a.b', 'aXb-20261121T210001Z-r1.db') is None  # the prefix is not a regex


def test_scan(tmp_path):
    def put(name, data=b'x' * 10, side=None):
        (tmp_path / name).write_bytes(data)
        if side is not None:
            (tmp_path / (name + '.json')).write_text(json.dumps(side))

    put('etcd-20261121T210000Z-r5.db', side={'sha256': 'a', 'size': 10})
    put('etcd-20261120T210000Z-r4.db', side={'sha256': 'a', 'size': 11})  # size mismatch
    put('etcd-20261119T210000Z-r3.db')  # no sidecar
    put('etcd-20261118T210000Z-r2.db.part')
    (tmp_path / 'etcd-20261117T210000Z-r1.db.json').write_text('{not json')
    put('other-20261121T210000Z-r5.db', side={'sha256': 'a', 'size': 10})
    got = dict((e['name'], e) for e in s.scan(str(tmp_path), 'etcd'))
    assert sorted(got) == ['etcd-20261117T210000Z-r1.db', 'etcd-20261118T210000Z-r2.db',
                           'etcd-20261119T210000Z-r3.db', 'etcd-20261120T210000Z-r4.db',
                           'etcd-20261121T210000Z-r5.db']
    assert [n for n, e in sorted(got.items()) if e['verified']] == ['etcd-20261121T210000Z-r5.db']
    assert got['etcd-20261118T210000Z-r2.db']['files'] == [str(tmp_path / 'etcd-20261118T210000Z-r2.db.part')]
    assert got['etcd-20261121T210000Z-r5.db']['revision'] == 5
    assert s.scan(str(tmp_path / 'missing'), 'etcd') == []


def test_write_json_atomic(tmp_path):
    path = str(tmp_path / 'x.json')
    write_json_atomic(path, {'a': 1})
    assert json.load(open(path)) == {'a': 1}
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    assert os.listdir(str(tmp_path)) == ['x.json']
