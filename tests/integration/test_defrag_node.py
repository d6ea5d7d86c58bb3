# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The node program of the defragmentation timer (roles/ramdisk/files/etcd_ramdisk/defrag.py) against the real
3-member TLS + auth cluster of conftest.py: on the leader it hands the leadership away before its own
defragmentation; on a follower whose rule does not match it does nothing; other members are never touched."""

import fcntl
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'roles', 'ramdisk', 'files'))

from etcd_ramdisk import defrag  # noqa: E402  pylint: disable=wrong-import-position


def _config(cluster, member, tmp_path, **extra):
    conn = cluster.connection
    cfg = dict(cluster='it', member=member.name, data_dir=str(tmp_path),
               client=dict(conn, endpoints=[member.client_url] + [e for e in conn['endpoints']
                                                                  if e != member.client_url], timeout=10),
               rule={'min_free_bytes': 1 << 40}, compact_keep_revisions=None, wait_timeout=60, max_raft_lag=1000,
               move_leader=True, state_file=str(tmp_path / 'state.json'), lock_file=str(tmp_path / 'lock'))
    cfg.update(extra)
    path = tmp_path / 'cfg.json'
    path.write_text(json.dumps(cfg))
    return str(path)


def _leader(cluster):
    client = cluster.client()
    for m in cluster.members:
        if client.status(m.client_url)['is_leader']:
            return m
    raise AssertionError('no leader')


def test_node_program_on_the_leader_moves_leadership_first(etcd_cluster, tmp_path, capsys):
    leader = _leader(etcd_cluster)
    cfg = _config(etcd_cluster, leader, tmp_path)
    # the rule does not match: nothing is done, nothing moves
    assert defrag.main(['--config', cfg]) == 0
    state = json.loads((tmp_path / 'state.json').read_text())
    assert state['ok'] and state['result']['order'] == [] and state['result']['leader_moves'] == [], state
    assert _leader(etcd_cluster).name == leader.name
    # forced: the leadership moves to another member, then this member alone is defragmented
    capsys.readouterr()
    assert defrag.main(['--config', cfg, '--force']) == 0
    out = json.loads(capsys.readouterr().out)
    result = out['result']
    assert out['ok'] and result['order'] == [leader.name], out
    assert len(result['leader_moves']) == 1 and result['leader_moves'][0]['from'] == leader.name
    assert [m['name'] for m in result['members'] if m['defrag']] == [leader.name]
    assert _leader(etcd_cluster).name == result['leader_moves'][0]['to'] != leader.name


def test_node_program_check_mode_and_lock(etcd_cluster, tmp_path, capsys):
    follower = [m for m in etcd_cluster.members if m.name != _leader(etcd_cluster).name][0]
    cfg = _config(etcd_cluster, follower, tmp_path)
    assert defrag.main(['--config', cfg, '--check', '--force']) == 0
    out = json.loads(capsys.readouterr().out)
    assert out['check'] and out['result']['order'] == [follower.name] and not (tmp_path / 'state.json').exists()
    # a second run while one holds the lock does not start
    with open(str(tmp_path / 'lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert defrag.main(['--config', cfg]) == 1
    assert 'another run' in capsys.readouterr().err
