# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""etcd_defrag against the real 3-member TLS + auth cluster of conftest.py."""

import time

from conftest import assert_clean_failure

MIB = 1024 * 1024


def statuses(cluster):
    out = {}
    for st in cluster.etcdctl_json('endpoint', 'status'):
        s = st['Status']
        out[st['Endpoint']] = dict(db_size=s['dbSize'], in_use=s['dbSizeInUse'],
                                   leader=s['leader'] == s['header']['member_id'])
    return out


def make_garbage(cluster, count=300, size=64 * 1024):
    """Write and delete ~count*size bytes, so every member's db grows with free pages."""
    client = cluster.client()
    value = 'x' * size
    for i in range(count):
        client.put('/it/defrag/garbage/%04d' % i, value)
    client.delete('/it/defrag/garbage/', prefix=True)
    # a few newer revisions, so that a compaction keeping the last 5 revisions covers the deletion
    for i in range(10):
        client.put('/it/defrag/after', str(i))
    return client


def test_defrag_rule_order_idempotence(etcd_cluster, run_module):
    conn = etcd_cluster.connection
    # a rule that matches a member with >= 1 MiB and half of its database free
    strict = dict(conn, min_free_bytes=MIB, free_bytes_trigger=0, min_free_ratio=0.5, quota_usage_ratio=0)
    never = dict(conn, min_free_bytes=1 << 40)
    make_garbage(etcd_cluster)
    before = statuses(etcd_cluster)
    assert all(s['db_size'] >= 15 * MIB for s in before.values()), before

    # without compaction the deleted revisions are still in use: the rule does not match
    run = run_module('etcd_defrag', strict)
    assert not run.failed and not run.changed, run
    assert run['order'] == [] and all(not m['defrag'] for m in run['members'])
    assert all('no threshold reached' in m['reasons'] for m in run['members'])

    # compaction: check mode, real, idempotent second run
    check = run_module('etcd_defrag', dict(never, compact_keep_revisions=5), check=True)
    assert not check.failed and check.changed and check['compaction']['compacted'] is True, check
    assert statuses(etcd_cluster) == before
    run = run_module('etcd_defrag', dict(never, compact_keep_revisions=5))
    assert not run.failed and run.changed, run
    comp = run['compaction']
    assert comp['compacted'] is True and comp['target'] == comp['revision'] - 5 and run['order'] == []
    res = etcd_cluster.etcdctl('get', '/it/defrag/garbage/0000', '--rev', str(comp['target'] - 1), check=False)
    assert res.returncode != 0 and 'compacted' in res.stderr, res
    again = run_module('etcd_defrag', dict(never, compact_keep_revisions=5))
    assert not again.failed and not again.changed and again['compaction']['compacted'] is False, again
    assert run_module('etcd_defrag', dict(never, compact_keep_revisions=5), check=True).changed is False

    # etcd frees the compacted pages in the background and recomputes the in-use size at a later backend commit:
    # write until every member reports less than half of its database in use (each member on its own schedule)
    deadline = time.time() + 30
    while True:
        etcd_cluster.etcdctl('put', '/it/defrag/after', 'done')
        time.sleep(1)
        settled = statuses(etcd_cluster)
        if all(s['in_use'] < s['db_size'] / 2 for s in settled.values()) or time.time() > deadline:
            break

    # check mode: the plan, leader last, nothing done
    check = run_module('etcd_defrag', strict, check=True)
    assert not check.failed and check.changed, check
    assert [m['role'] for m in check['members']] == ['follower', 'follower', 'leader']
    assert check['order'] == [m['name'] for m in check['members']]
    assert all(m['after'] is None and not m['defragmented'] for m in check['members'])
    before = statuses(etcd_cluster)
    assert all(s['in_use'] < s['db_size'] / 2 for s in before.values()), before

    run = run_module('etcd_defrag', strict)
    assert not run.failed and run.changed, run
    assert len(run['order']) == 3, run
    assert [m['role'] for m in run['members']] == ['follower', 'follower', 'leader']
    after = statuses(etcd_cluster)
    leader_ep = [ep for ep, s in after.items() if s['leader']][0]
    # the leader was done last, after its leadership was moved to a member already defragmented
    last = run['members'][-1]
    assert run['order'][-1] == last['name'] and last['endpoint'] != leader_ep, (run, after)
    assert len(run['leader_moves']) == 1 and run['leader_moves'][0]['from'] == last['name'], run
    assert last['moved_leadership_to'] == run['leader_moves'][0]['to'], run
    assert run['leader_moves'][0]['to'] in run['order'][:2], run
    assert [m['endpoint'] for m in run['members'] if m['name'] == last['moved_leadership_to']] == [leader_ep]
    for m in run['members']:
        assert m['defragmented'] and m['seconds'] is not None, m
        assert m['after']['db_size'] < m['before']['db_size'] / 2, m
        assert after[m['endpoint']]['db_size'] < before[m['endpoint']]['db_size'] / 2

    # second run: nothing matches any more
    again = run_module('etcd_defrag', strict)
    assert not again.failed and not again.changed and again['order'] == [], again


def test_defrag_force_from_one_endpoint(etcd_cluster, run_module):
    # the other members are found through the member list
    args = dict(etcd_cluster.connection, endpoints=etcd_cluster.endpoints[:1], force=True)
    check = run_module('etcd_defrag', args, check=True)
    assert check.changed and len(check['order']) == 3 and all(m['after'] is None for m in check['members']), check
    run = run_module('etcd_defrag', args)
    assert not run.failed and run.changed and len(run['order']) == 3, run
    assert run['members'][-1]['role'] == 'leader' and all(m['defragmented'] for m in run['members'])
    assert all('force' in m['reasons'] for m in run['members'])
    assert len(run['leader_moves']) == 1, run


def test_defrag_without_leader_move_and_member_selection(etcd_cluster, run_module):
    conn = etcd_cluster.connection
    leader_before = [ep for ep, s in statuses(etcd_cluster).items() if s['leader']][0]
    run = run_module('etcd_defrag', dict(conn, force=True, move_leader=False))
    assert not run.failed and run.changed and run['leader_moves'] == [] and len(run['order']) == 3, run
    assert run['members'][-1]['endpoint'] == leader_before
    assert [ep for ep, s in statuses(etcd_cluster).items() if s['leader']] == [leader_before]
    # only the leader: its leadership moves, then it alone is defragmented
    leader_name = run['members'][-1]['name']
    one = run_module('etcd_defrag', dict(conn, force=True, members=[leader_name]))
    assert not one.failed and one.changed and one['order'] == [leader_name], one
    assert one['leader_moves'][0]['from'] == leader_name
    assert [m['name'] for m in one['members'] if not m['defrag']] == [m['name'] for m in one['members'][:2]]
    assert [ep for ep, s in statuses(etcd_cluster).items() if s['leader']] != [leader_before]


def test_defrag_refuses_without_room_for_the_copy(etcd_cluster, run_module):
    """A member whose (RAM-disk) file system is too small for the copy: nothing is defragmented."""
    conn = etcd_cluster.connection
    before = statuses(etcd_cluster)
    name = etcd_cluster.members[1].name
    run = run_module('etcd_defrag', dict(conn, force=True, free_space={name: 1024}))
    assert_clean_failure(run, 'refusing', name, 'ramdisk_size')
    assert run['order'] == [] and not run.changed
    assert statuses(etcd_cluster) == before
    ok = run_module('etcd_defrag', dict(conn, force=True, members=[name], free_space={name: 1 << 40}),
                    check=True)
    assert not ok.failed and ok['order'] == [name], ok


def test_defrag_bad_inputs(etcd_cluster, run_module, run_modules):
    conn = etcd_cluster.connection
    dead = 'https://%s:2379' % etcd_cluster.ip(9)
    cases = [
        (dict(conn, password='wrong', force=True), ['authentication']),
        (dict(conn, ca_cert=etcd_cluster.bad_ca_cert, force=True, wait_timeout=2), ['tls']),
        (dict(conn, client_cert=etcd_cluster.bad_client_cert, client_key=etcd_cluster.bad_client_key, force=True,
              wait_timeout=2), ['tls']),
        (dict(conn, endpoints=[dead], timeout=2, wait_timeout=2, force=True), ['connect']),
        (dict(conn, min_free_ratio='half'), ['min_free_ratio']),
        (dict(conn, min_free_bytes=-1), ['min_free_bytes']),
        (dict(conn, compact_keep_revisions=-3), ['compact_keep_revisions']),
        (dict(conn, wait_timeout=0), ['wait_timeout']),
        (dict(conn, force='yes please'), ['force']),
        (dict(conn, free_space={'etcd1': 'lots'}), ['free_space', 'etcd1']),
        (dict(conn, space_reserve_bytes=-1), ['space_reserve_bytes']),
    ]
    before = statuses(etcd_cluster)
    # one playbook for all cases (no Python step between them); each result is checked on its own
    runs = run_modules([('etcd_defrag', case[0]) for case in cases])
    for (args, words), run in zip(cases, runs):
        assert_clean_failure(run, *words)
    assert statuses(etcd_cluster) == before


def test_defrag_health_gate_aborts(etcd_cluster, run_module):
    """A member that is down closes the gate: nothing is defragmented."""
    conn = etcd_cluster.connection
    victim = etcd_cluster.members[-1]
    name, ip = victim.name, victim.ip
    initial = ','.join('%s=%s' % (m.name, m.peer_url) for m in etcd_cluster.members)
    etcd_cluster.stop_member(name)
    try:
        run = run_module('etcd_defrag', dict(conn, force=True, wait_timeout=3, timeout=3))
        assert_clean_failure(run, 'health gate', name)
        assert run['order'] == []
    finally:
        etcd_cluster.start_member(name, ip, initial, state='existing')
        etcd_cluster.wait_healthy()
