# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Pure decisions of the backup verbs (roles/ramdisk/files/etcd_ramdisk/backup_rules.py), on tables."""

import re

import pytest

from etcd_ramdisk import backup_rules as rules
from etcd_ramdisk.backup import unit_id


@pytest.mark.parametrize('current,newest,force,action', [
    (10, None, False, rules.TAKE),     # empty store
    (10, None, True, rules.TAKE),
    (10, 10, False, rules.SKIP),       # revision has not moved
    (10, 12, False, rules.SKIP),       # the backup's file revision is past the status read
    (11, 10, False, rules.TAKE),       # moved
    (10, 10, True, rules.TAKE),        # asked for now
    (None, 10, False, rules.TAKE),     # unknown current revision: take one
])
def test_backup_decision(current, newest, force, action):
    got, reason = rules.backup_decision(current, newest, force)
    assert got == action and reason


SIDE = dict(revision=100, db_revision=100, key_count=40)
REST = dict(revision=100, key_count=40, digest=dict(revision=100, count=40, sha256='aa'))
LIVE = dict(digest=dict(revision=100, count=40, sha256='aa'))


@pytest.mark.parametrize('side,restored,live,ok,keyspace,problem', [
    (SIDE, REST, LIVE, True, rules.KEYSPACE_EQUAL, None),
    # compacted on the live cluster: reported, not failed
    (SIDE, REST, dict(compacted=True), True, rules.KEYSPACE_COMPACTED, None),
    (SIDE, REST, dict(error='all endpoints failed'), True, rules.KEYSPACE_UNAVAILABLE, None),
    # after a DR the live cluster has another id: its key space is not this backup's history
    (SIDE, REST, dict(foreign=True), True, rules.KEYSPACE_FOREIGN, None),
    # a different key space at the same revision
    (SIDE, REST, dict(digest=dict(revision=100, count=40, sha256='bb')), False, rules.KEYSPACE_MISMATCH,
     'key space'),
    (SIDE, REST, dict(digest=dict(revision=100, count=39, sha256='aa')), False, rules.KEYSPACE_MISMATCH,
     'key space'),
    # revision and key count against the sidecar
    (SIDE, dict(REST, revision=99), LIVE, False, rules.KEYSPACE_EQUAL, 'restored revision 99'),
    (SIDE, dict(REST, key_count=41), LIVE, False, rules.KEYSPACE_EQUAL, 'key count 41'),
    # db_revision (read by etcdutl) wins over the API revision read before the stream
    (dict(revision=98, db_revision=100, key_count=40), REST, LIVE, True, rules.KEYSPACE_EQUAL, None),
    # another writer's sidecar (no db_revision): the revision read before the stream, the file holds at least it
    (dict(revision=100), REST, LIVE, True, rules.KEYSPACE_EQUAL, None),   # key count not recorded
    (dict(revision=97), REST, LIVE, True, rules.KEYSPACE_EQUAL, None),
    (dict(revision=101), REST, LIVE, False, rules.KEYSPACE_EQUAL, 'restored revision 100'),
    (dict(key_count=40), REST, LIVE, False, rules.KEYSPACE_EQUAL, 'no revision'),
])
def test_drill_verdict(side, restored, live, ok, keyspace, problem):
    verdict = rules.drill_verdict(side, restored, live)
    assert verdict['ok'] is ok and verdict['keyspace'] == keyspace
    if problem:
        assert any(problem in p for p in verdict['problems'])
    else:
        assert verdict['problems'] == []


A = 'snapshot-20261122T060000Z-r10.db'
B = 'snapshot-20261122T070000Z-r20.db'
C = 'snapshot-20261122T080000Z-r30.db'


@pytest.mark.parametrize('remote,local,wanted', [
    ([A, A + '.json', B, B + '.json'], [], [A, A + '.json', B, B + '.json']),
    ([A, A + '.json', B, B + '.json'], [A, A + '.json'], [B, B + '.json']),
    # a snapshot pruned here (older than the newest held) is not fetched again
    ([A, A + '.json', B, B + '.json', C, C + '.json'], [B, B + '.json'], [C, C + '.json']),
    # no sidecar yet (being written) or a part file: not fetched
    ([A, B, B + '.json', C + '.part'], [], [B, B + '.json']),
    # other files are ignored
    (['etcd-pre-remove-20261122T060000Z-r5.db', '.snapshot.lock', 'x.json'], [], []),
    ([], [A], []),
])
def test_offsite_selection(remote, local, wanted):
    assert rules.offsite_selection(remote, local) == wanted


def test_parse_rsync_list():
    text = ('drwx------          4,096 2026/11/22 06:00:00 .\n'
            '-rw-------          8,192 2026/11/22 06:00:00 %s\n'
            '-rw-------            412 2026/11/22 06:00:00 %s.json\n'
            '-rw-r--r--              0 2026/11/22 06:00:00 .snapshot.lock\n') % (A, A)
    assert rules.parse_rsync_list(text) == [A, A + '.json', '.snapshot.lock']


@pytest.mark.parametrize('text,seconds', [
    ('  Original form: hourly\nNormalized form: *-*-* *:00:00\n    Next elapse: Sun 2026-11-22 07:00:00 UTC\n'
     '       From now: 51min left\n       Iter. #2: Sun 2026-11-22 08:00:00 UTC\n', 3600),
    ('    Next elapse: Sun 2026-11-22 06:15:00 UTC\n       Iter. #2: Sun 2026-11-22 06:30:00 UTC\n', 900),
    ('    Next elapse: Sun 2026-11-22 00:00:00 UTC\n       Iter. #2: Mon 2026-11-23 00:00:00 UTC\n', 86400),
    ('    Next elapse: Sun 2026-11-22 00:00:00 UTC\n', None),
    ('Failed to parse calendar specification', None),
    ('', None),
])
def test_calendar_interval(text, seconds):
    assert rules.calendar_interval(text) == seconds


def test_metrics_follow_the_contract():
    state = dict(last_success_ts=1763791200.5, last_attempt_ts=1763791260, last_revision=42, last_size=20512)
    text = rules.render_metrics(rules.BACKUP_METRICS, rules.backup_metric_values(state, 3600), 'etcd', 'node-1')
    samples = [line for line in text.splitlines() if not line.startswith('#')]
    assert samples == [
        'etcdkit_backup_last_success_timestamp_seconds{cluster="etcd",member="node-1"} 1763791200.5',
        'etcdkit_backup_last_attempt_timestamp_seconds{cluster="etcd",member="node-1"} 1763791260',
        'etcdkit_backup_last_revision{cluster="etcd",member="node-1"} 42',
        'etcdkit_backup_last_size_bytes{cluster="etcd",member="node-1"} 20512',
        'etcdkit_backup_interval_seconds{cluster="etcd",member="node-1"} 3600',
    ]
    assert '# TYPE etcdkit_backup_last_revision gauge' in text
    drill = rules.render_metrics(rules.DRILL_METRICS, rules.drill_metric_values(dict(last_ok=False), None),
                                 'etcd', 'a"b')
    names = [re.match(r'^(\w+)\{', line).group(1) for line in drill.splitlines() if not line.startswith('#')]
    assert names == ['etcdkit_restore_drill_last_success_timestamp_seconds',
                     'etcdkit_restore_drill_last_attempt_timestamp_seconds', 'etcdkit_restore_drill_last_ok',
                     'etcdkit_restore_drill_last_revision', 'etcdkit_restore_drill_interval_seconds']
    assert 'etcdkit_restore_drill_last_ok{cluster="etcd",member="a\\"b"} 0' in drill
    assert rules.metrics_file_name('etcd', 'drill') == 'etcdkit_etcd_drill.prom'


@pytest.mark.parametrize('unit,expected', [
    ('etcd.service', 'etcd'), ('etcd', 'etcd'), ('etcd-k8s.service', 'etcd-k8s'), ('etcd@a b.service', 'etcd_a_b'),
])
def test_unit_id(unit, expected):
    assert unit_id(unit) == expected


def test_backup_verbs_refuse_a_config_of_another_kind(tmp_path, capsys):
    from etcd_ramdisk import cli
    cfg = tmp_path / 'c.json'
    cfg.write_text('{"kind": "offsite", "cluster_name": "etcd", "state_dir": "%s"}' % (tmp_path / 'state'))
    assert cli.main(['--config', str(cfg), 'backup']) == 2
    assert cli.main(['--config', str(cfg), 'drill']) == 2
    assert 'not a backup config' in capsys.readouterr().err
