# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The backup verbs of the node helper (roles/ramdisk/files/etcd_ramdisk/backup.py) on the real test cluster
(TLS, client-cert auth and etcd auth on): verified backups with the one sidecar schema, skip when the revision has
not moved, retention, the restore drill (etcdutl restore + a temporary etcd on loopback, checked against the sidecar
and the live cluster), a corrupted backup failing the drill, a compacted revision reported as not comparable, and
the node_exporter textfile metrics of the plan's contract."""

import contextlib
import datetime
import getpass
import io
import json
import os
import re
import shutil
import subprocess
import sys

from ansible_collections.etcdkit.etcd.plugins.module_utils._keyspace import key_count
from ansible_collections.etcdkit.etcd.plugins.module_utils._snapstore import SIDECAR_SCHEMA, scan

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'roles', 'ramdisk', 'files'))

from etcd_ramdisk import cli  # noqa: E402  pylint: disable=wrong-import-position


def _config(cluster, tmp_path, name='etcd1', **extra):
    mem = cluster.member(name)
    cfg = {
        'kind': 'backup', 'unit': 'etcdkit-it.service', 'cluster_name': 'itcluster', 'member_name': name,
        'endpoints': ['https://%s:2379' % mem.ip],
        'client': dict(ca_cert=cluster.ca_cert, client_cert=cluster.client_cert, client_key=cluster.client_key,
                       user=cluster.user, password=cluster.password),
        'store_dir': str(tmp_path / 'store'), 'ramdisk_config': str(tmp_path / 'no-ramdisk.json'),
        'retention': {'keep_last': 2, 'keep_daily': 0},
        'etcd': str(cluster.bin_dir / 'etcd'), 'etcdutl': str(cluster.bin_dir / 'etcdutl'),
        'user': getpass.getuser(), 'state_dir': str(tmp_path / 'state'), 'textfile_dir': str(tmp_path / 'textfile'),
        'backup_on_calendar': '*:0/15', 'drill_on_calendar': 'daily',
        'drill': {'scratch_dir': str(tmp_path / 'scratch'), 'timeout': 60},
    }
    cfg.update(extra)
    path = tmp_path / 'backup.json'
    path.write_text(json.dumps(cfg))
    return str(path), cfg


def _run(path, *verb):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(['--config', path] + list(verb))
    text = out.getvalue()
    return rc, (json.loads(text) if text.strip() else None)


def _metrics(cfg, concern):
    text = open(os.path.join(cfg['textfile_dir'], 'etcdkit_itcluster_%s.prom' % concern)).read()
    values = {}
    for line in text.splitlines():
        if line.startswith('#'):
            continue
        match = re.match(r'^(\w+)\{cluster="itcluster",member="etcd1"\} (\S+)$', line)
        assert match, line
        values[match.group(1)] = float(match.group(2))
    return values


def test_backup_verified_skipped_when_unchanged_and_pruned(etcd_cluster, tmp_path):
    etcd_cluster.wait_healthy()
    client = etcd_cluster.client()
    for k in range(30):
        client.put('/backup-it/a%02d' % k, 'v%d' % k)
    path, cfg = _config(etcd_cluster, tmp_path)
    rc, first = _run(path, 'backup')
    assert rc == 0 and first['skipped'] is False
    side = json.load(open(first['sidecar_path']))
    assert side['schema'] == SIDECAR_SCHEMA and side['cluster_name'] == 'itcluster'
    assert side['member_name'] == 'etcd1' and side['etcd_version'] == etcd_cluster.version
    assert side['cluster_id'] == '%016x' % client.member_list()['cluster_id']
    assert side['revision'] == side['db_revision'] >= side['api_revision']
    assert side['key_count'] == key_count(client, side['revision'])
    m = _metrics(cfg, 'backup')
    assert m['etcdkit_backup_last_revision'] == side['revision']
    assert m['etcdkit_backup_last_size_bytes'] == side['size'] == os.path.getsize(first['path'])
    assert m['etcdkit_backup_interval_seconds'] == 900
    assert m['etcdkit_backup_last_success_timestamp_seconds'] == m['etcdkit_backup_last_attempt_timestamp_seconds'] > 0

    # the revision has not moved: no new snapshot (the store still holds the current revision)
    rc, again = _run(path, 'backup')
    assert rc == 0 and again['skipped'] is True and again['path'] == first['path']
    assert len(scan(cfg['store_dir'], 'snapshot')) == 1

    # three more revisions -> three more backups, retention keep_last=2 leaves the newest two
    names = [first['path']]
    for k in range(3):
        client.put('/backup-it/b%d' % k, 'x')
        rc, res = _run(path, 'backup')
        assert rc == 0 and not res['skipped']
        names.append(res['path'])
    kept = [e['path'] for e in scan(cfg['store_dir'], 'snapshot')]
    assert kept == sorted(names)[-2:]
    assert not [n for n in os.listdir(cfg['store_dir']) if n.endswith('.part')]


def test_restore_drill_proves_the_newest_backup(etcd_cluster, tmp_path):
    etcd_cluster.wait_healthy()
    client = etcd_cluster.client()
    for k in range(40):
        client.put('/drill-it/k%02d' % k, 'value %d' % k)
    path, cfg = _config(etcd_cluster, tmp_path)
    rc, backup = _run(path, 'backup')
    assert rc == 0
    client.put('/drill-it/after', 'not in the backup')  # the live cluster moved on: compared at the backup's rev
    rc, res = _run(path, 'drill')
    assert rc == 0, res
    assert res['ok'] and res['keyspace'] == 'equal' and res['revision'] == backup['revision']
    assert res['source'] == backup['path'] and res['key_count'] == backup['key_count']
    state = json.load(open(os.path.join(cfg['state_dir'], 'drill.json')))
    proven = state['last_proven_restorable']
    assert proven['revision'] == backup['revision'] and proven['source'] == backup['path'] and proven['time']
    m = _metrics(cfg, 'drill')
    assert m['etcdkit_restore_drill_last_ok'] == 1
    assert m['etcdkit_restore_drill_last_revision'] == backup['revision']
    assert m['etcdkit_restore_drill_interval_seconds'] == 86400
    assert m['etcdkit_restore_drill_last_success_timestamp_seconds'] > 0
    # the temporary etcd and the scratch dir are gone
    assert os.listdir(cfg['drill']['scratch_dir']) == []
    assert not _drill_etcd_running()


def _drill_etcd_running():
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                cmd = open('/proc/%s/cmdline' % pid, 'rb').read().split(b'\0')
            except OSError:
                continue
            if b'etcdkit-drill-itcluster' in b' '.join(cmd):
                return True
    return False


def test_drill_fails_clearly_on_a_corrupted_backup(etcd_cluster, tmp_path):
    etcd_cluster.wait_healthy()
    etcd_cluster.client().put('/drill-it/corrupt', 'x')
    path, cfg = _config(etcd_cluster, tmp_path)
    rc, backup = _run(path, 'drill')
    assert rc == 1 and backup['ok'] is False and 'no verified backup' in backup['problems'][0]
    rc, backup = _run(path, 'backup')
    assert rc == 0
    rc, good = _run(path, 'drill')
    assert rc == 0 and good['ok']
    good_ts = _metrics(cfg, 'drill')['etcdkit_restore_drill_last_success_timestamp_seconds']
    with open(backup['path'], 'r+b') as handle:  # flip bytes in the middle of the db
        size = os.path.getsize(backup['path'])
        handle.seek(size // 2)
        data = handle.read(16)
        handle.seek(size // 2)
        handle.write(bytes(b ^ 0xFF for b in data))
    rc, res = _run(path, 'drill')
    assert rc == 1 and res['ok'] is False
    assert 'corrupt' in res['problems'][0] and backup['path'] in res['problems'][0]
    m = _metrics(cfg, 'drill')
    assert m['etcdkit_restore_drill_last_ok'] == 0
    assert m['etcdkit_restore_drill_last_success_timestamp_seconds'] == good_ts
    assert m['etcdkit_restore_drill_last_attempt_timestamp_seconds'] > good_ts
    assert os.listdir(cfg['drill']['scratch_dir']) == []


def test_drill_with_a_truncated_file_and_without_sidecar_trailer_check(etcd_cluster, tmp_path):
    """A truncated copy given explicitly (e.g. a broken off-site copy) fails before anything starts."""
    etcd_cluster.wait_healthy()
    path, cfg = _config(etcd_cluster, tmp_path)
    rc, backup = _run(path, 'backup', '--now')
    assert rc == 0
    cut = tmp_path / 'cut'
    cut.mkdir()
    dest = cut / os.path.basename(backup['path'])
    shutil.copyfile(backup['sidecar_path'], str(dest) + '.json')
    with open(backup['path'], 'rb') as src, open(str(dest), 'wb') as dst:
        dst.write(src.read()[:4096])
    rc, res = _run(path, 'drill', '--snapshot', str(dest))
    assert rc == 1 and not res['ok'] and 'corrupt' in res['problems'][0]


def test_drill_reports_a_compacted_revision_as_not_comparable(etcd_cluster, tmp_path):
    etcd_cluster.wait_healthy()
    client = etcd_cluster.client()
    client.put('/drill-it/compact', 'before')
    path, cfg = _config(etcd_cluster, tmp_path)
    rc, backup = _run(path, 'backup')
    assert rc == 0
    now = client.put('/drill-it/compact', 'after')['revision']
    client.compact(now)
    rc, res = _run(path, 'drill')
    assert rc == 0 and res['ok'], res
    assert res['keyspace'] == 'not comparable: compacted'
    assert res['checks']['revision'].startswith('equal') and res['checks']['key_count'].startswith('equal')


def test_ramdisk_snapshot_timer_defers_to_the_backup_timer(tmp_path):
    from etcd_ramdisk import backup
    assert not backup.defers_ramdisk_snapshots('etcd.service', config_dir=str(tmp_path))
    (tmp_path / 'etcd.json').write_text(json.dumps({'kind': 'backup', 'ramdisk_takeover': True}))
    assert backup.defers_ramdisk_snapshots('etcd.service', config_dir=str(tmp_path))
    assert not backup.defers_ramdisk_snapshots('other.service', config_dir=str(tmp_path))


def test_ramdisk_member_one_store_and_one_snapshotting_timer(etcd_cluster, tmp_path):
    """On a RAM-disk member the store is the helper's snapshot dir. Before the role took over (RAM-disk mode added
    after it ran) the backup verb takes no snapshot and reports the helper's newest one; after, it snapshots there."""
    etcd_cluster.wait_healthy()
    etcd_cluster.client().put('/backup-it/ramdisk', 'x')
    ramdisk_store = tmp_path / 'ramdisk-snaps'
    ramdisk_cfg = tmp_path / 'ramdisk.json'
    ramdisk_cfg.write_text(json.dumps({'snapshot_dir': str(ramdisk_store)}))
    path, cfg = _config(etcd_cluster, tmp_path, ramdisk_config=str(ramdisk_cfg))
    rc, res = _run(path, 'backup')
    assert rc == 1 and res is None  # nothing in the helper's store yet: says to run site.yml again
    assert json.load(open(os.path.join(cfg['state_dir'], 'backup.json')))['last_ok'] is False
    rc, res = _run(path, 'backup', '--now')  # (as the helper's own timer would) one snapshot into its store
    assert rc == 0 and res['store'] == str(ramdisk_store) and not res['skipped']
    etcd_cluster.client().put('/backup-it/ramdisk', 'y')
    rc, res2 = _run(path, 'backup')
    assert rc == 0 and res2['skipped'] and 'RAM-disk' in res2['reason'] and res2['path'] == res['path']
    m = _metrics(cfg, 'backup')
    created = json.load(open(res['sidecar_path']))['created']
    assert m['etcdkit_backup_last_success_timestamp_seconds'] < m['etcdkit_backup_last_attempt_timestamp_seconds']
    created_ts = datetime.datetime.strptime(created, '%Y-%m-%dT%H:%M:%SZ').replace(
        tzinfo=datetime.timezone.utc).timestamp()
    assert abs(m['etcdkit_backup_last_success_timestamp_seconds'] - created_ts) < 1.0  # as fresh as the helper's
    # the role ran again and took over: snapshots into the helper's store, and the helper's timer defers
    path, cfg = _config(etcd_cluster, tmp_path, ramdisk_config=str(ramdisk_cfg), ramdisk_takeover=True)
    rc, res3 = _run(path, 'backup')
    assert rc == 0 and not res3['skipped'] and os.path.dirname(res3['path']) == str(ramdisk_store)
    assert not os.path.exists(cfg['store_dir']) or scan(cfg['store_dir'], 'snapshot') == []


def test_ramdisk_snapshot_timer_defers_only_after_the_takeover(tmp_path):
    from etcd_ramdisk import backup
    (tmp_path / 'etcd.json').write_text(json.dumps({'kind': 'backup', 'ramdisk_takeover': False}))
    assert not backup.defers_ramdisk_snapshots('etcd.service', config_dir=str(tmp_path))
    (tmp_path / 'etcd.json').write_text(json.dumps({'kind': 'backup', 'ramdisk_takeover': True,
                                                    'backup_enabled': False}))
    assert not backup.defers_ramdisk_snapshots('etcd.service', config_dir=str(tmp_path))


def test_offsite_pull_through_read_only_rrsync(etcd_cluster, tmp_path):
    """The off-site pull with the forced command the members get (``rrsync -ro <store>``); a local remote shell
    stands in for ssh. New pairs are fetched and verified, a corrupt one is rejected, pruned copies are not fetched
    again, and a write attempt through rrsync -ro is refused."""
    rrsync = shutil.which('rrsync')
    if not rrsync or not shutil.which('rsync'):
        import pytest
        pytest.skip('rsync/rrsync not installed')
    etcd_cluster.wait_healthy()
    client = etcd_cluster.client()
    path, cfg = _config(etcd_cluster, tmp_path, retention={'keep_last': 10, 'keep_daily': 0})
    made = []
    for k in range(3):
        client.put('/offsite-it/k%d' % k, 'x')
        rc, res = _run(path, 'backup')
        assert rc == 0 and not res['skipped']
        made.append(os.path.basename(res['path']))
    rsh = tmp_path / 'fake-ssh'
    rsh.write_text('#!/bin/sh\n# stands in for ssh: [-l user] host command... -> the forced command\n'
                   'if [ "$1" = "-l" ]; then shift 2; fi\nshift\n'
                   'SSH_ORIGINAL_COMMAND="$*" exec %s -ro %s\n' % (rrsync, cfg['store_dir']))
    rsh.chmod(0o755)
    off = dict(kind='offsite', cluster_name='itcluster', member_name='backuphost', dest_dir=str(tmp_path / 'offsite'),
               state_dir=str(tmp_path / 'offsite-state'), ssh_key='/nonexistent', known_hosts='/nonexistent',
               rsh=str(rsh), timeout=120, retention=dict(keep_last=2, keep_daily=0),
               sources=[dict(member='etcd1', host='etcd1.invalid', port=22, user='root')])
    off_path = tmp_path / 'offsite.json'
    off_path.write_text(json.dumps(off))
    rc, res = _run(str(off_path), 'offsite')
    assert rc == 0, res
    dest = tmp_path / 'offsite' / 'etcd1'
    assert sorted(res['results'][0]['fetched']) == sorted(made)
    assert sorted(e['name'] for e in scan(str(dest), 'snapshot')) == sorted(made)[-2:]  # own retention: 2
    assert res['results'][0]['pruned'] == [sorted(made)[0]]
    # nothing new: the pruned one is not fetched again
    rc, res = _run(str(off_path), 'offsite')
    assert rc == 0 and res['results'][0]['fetched'] == []
    # a new snapshot that is corrupt on the member is rejected (and the pull reports it)
    client.put('/offsite-it/new', 'x')
    rc, new = _run(path, 'backup')
    with open(new['path'], 'r+b') as handle:
        handle.seek(100)
        handle.write(b'\xff' * 8)
    rc, res = _run(str(off_path), 'offsite')
    assert rc == 1 and res['results'][0]['rejected'][0]['name'] == os.path.basename(new['path'])
    assert not (dest / os.path.basename(new['path'])).exists() and not (dest / '.incoming').exists()
    # rrsync -ro refuses writes to the store
    proc = subprocess.run(['rsync', '-e', str(rsh), str(off_path), 'root@etcd1.invalid:/x.json'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode != 0 and not os.path.exists(os.path.join(cfg['store_dir'], 'x.json'))
