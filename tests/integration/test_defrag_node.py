# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The node program of the defragmentation timer (roles/ramdisk/files/etcd_ramdisk/defrag.py) against the real
3-member TLS + auth cluster of conftest.py: on the leader it hands the leadership away before its own
defragmentation; on a follower whose rule does not match it does nothing; other members are never touched; it
waits for the cluster's defragmentation turn while another member holds it."""

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
               # as the role writes it: this member's own URL only (the others come from the member list)
               client=dict(conn, endpoints=[member.client_url], timeout=10),
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


def test_node_program_takes_the_cluster_turn(etcd_cluster, tmp_path, capsys):
    """Another member holds the defragmentation turn: a forced run waits for it and, when it is not given back
    in time, defragments nothing; once it is given back (here: expired) the run takes it, defragments its member
    and gives the turn back (the key is gone)."""
    import time
    from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag import TURN_KEY
    follower = [m for m in etcd_cluster.members if m.name != _leader(etcd_cluster).name][0]
    other = [m for m in etcd_cluster.members if m.name != follower.name][0]
    client = etcd_cluster.client()
    client.put(TURN_KEY, json.dumps({'holder': other.name, 'until': time.time() + 4}))
    try:
        cfg = _config(etcd_cluster, follower, tmp_path, turn_wait_seconds=1)
        assert defrag.main(['--config', cfg, '--force']) == 1
        out = json.loads(capsys.readouterr().out)
        assert '%s holds the defragmentation turn' % other.name in out['message'], out
        assert out['result']['order'] == [], out
        # the same run with time to wait: the turn expires after 4 s, then it is this member's
        cfg = _config(etcd_cluster, follower, tmp_path, turn_wait_seconds=30)
        assert defrag.main(['--config', cfg, '--force']) == 0
        out = json.loads(capsys.readouterr().out)
        assert out['result']['order'] == [follower.name] and out['result']['turn_waited_for'] == [other.name], out
        assert 'waited for the defragmentation turn of %s' % other.name in out['message'], out
        assert client.get(TURN_KEY) is None
    finally:
        client.delete(TURN_KEY)
