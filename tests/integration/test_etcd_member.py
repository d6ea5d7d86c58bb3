# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
import time

from conftest import assert_clean_failure


def _members(cluster):
    return {('%016x' % m['id']): m for m in cluster.client().member_list(linearizable=True)['members']}


def _by_name(cluster, name):
    return [m for m in _members(cluster).values() if m['name'] == name]


def test_member_existing_and_conflicts(etcd_cluster, run_module, run_modules):
    conn = etcd_cluster.connection
    before = _members(etcd_cluster)
    e2 = etcd_cluster.member('etcd2')
    run = run_module('etcd_member', dict(conn, name='etcd2', peer_urls=[e2.peer_url]))
    assert not run.failed and not run.changed and run['operation'] == 'none', run
    assert run['member']['name'] == 'etcd2' and run['member']['peer_urls'] == [e2.peer_url]
    assert 'etcd1=https://' in run['initial_cluster'] and 'etcd2=%s' % e2.peer_url in run['initial_cluster']
    run = run_module('etcd_member', dict(conn, name='etcd2', peer_urls=[e2.peer_url], learner=True), check=True)
    assert not run.failed and not run.changed

    e3 = etcd_cluster.member('etcd3')
    cases = [
        # name of etcd2, peer URL of etcd3
        (dict(conn, name='etcd2', peer_urls=[e3.peer_url]), ['etcd2', e3.peer_url]),
        # name of etcd2, unknown URL (would otherwise add a duplicate name)
        (dict(conn, name='etcd2', peer_urls=['https://%s:2380' % etcd_cluster.ip(7)]), ['etcd2', 'peer urls']),
        # new name, URL of etcd3
        (dict(conn, name='etcd9', peer_urls=[e3.peer_url]), ['etcd3', 'etcd9']),
        (dict(conn, name='etcd2', peer_urls=[e3.peer_url], state='absent'), ['etcd2']),
        (dict(conn, name='etcd9'), ['peer_urls']),
        (dict(conn, state='absent'), ['name', 'peer_urls']),
        (dict(conn, name='etcd9', peer_urls=['10.0.0.1:2380']), ['peer_urls']),
        (dict(conn, name='etcd9', peer_urls=[]), ['peer_urls']),
        (dict(conn, name='etcd9', peer_urls=['https://%s:2380' % etcd_cluster.ip(7)], wait_timeout='long'),
         ['wait_timeout']),
        (dict(conn, name='etcd9', peer_urls=['https://%s:2380' % etcd_cluster.ip(7)], password='nope'),
         ['authentication']),
        (dict(conn, name='etcd9', peer_urls=['https://%s:2380' % etcd_cluster.ip(7)], user=None, password=None),
         ['user and password']),
        (dict(conn, name='etcd9', peer_urls=['https://%s:2380' % etcd_cluster.ip(7)],
              ca_cert=etcd_cluster.bad_ca_cert), ['tls']),
        (dict(conn, name='etcd9', peer_urls=['https://%s:2380' % etcd_cluster.ip(7)],
              endpoints=['https://%s:2379' % etcd_cluster.ip(9)], timeout=3), ['cannot connect']),
    ]
    # one playbook for all cases (no Python step between them); each result is checked on its own
    runs = run_modules([('etcd_member', case[0]) for case in cases])
    for (args, words), run in zip(cases, runs):
        assert_clean_failure(run, *words)
    assert _members(etcd_cluster) == before


def test_member_absent_unknown_is_noop(etcd_cluster, run_module):
    run = run_module('etcd_member', dict(etcd_cluster.connection, name='nosuch', state='absent'))
    assert not run.failed and not run.changed and run['operation'] == 'none' and run['member'] is None


def _move_leader_off_first_endpoint(cluster):
    """Make a member other than endpoints[0] the leader: a promotion must still reach the leader (etcd 3.5 loses
    the credentials when a follower forwards a promotion with authentication enabled, etcd-io/etcd#14070)."""
    client = cluster.client()
    statuses = [client.status(ep) for ep in cluster.endpoints]
    leader = [s for s in statuses if s['is_leader']][0]
    if leader['endpoint'] == cluster.endpoints[0]:
        client.move_leader(statuses[1]['member_id'], leader['endpoint'])
    deadline = time.time() + 30
    while time.time() < deadline:
        statuses = [client.status(ep) for ep in cluster.endpoints]
        if statuses[0]['leader_id'] and not statuses[0]['is_leader'] \
                and len(set(s['leader_id'] for s in statuses)) == 1:
            return
        time.sleep(0.2)
    raise AssertionError('leadership did not move off %s: %s' % (cluster.endpoints[0], statuses))


def test_member_learner_add_promote_remove(etcd_cluster, run_module):
    conn = etcd_cluster.connection
    ip4 = etcd_cluster.ip(4)
    peer4 = 'https://%s:2380' % ip4
    args = dict(conn, name='etcd4', peer_urls=[peer4], learner=True)
    before = _members(etcd_cluster)

    run = run_module('etcd_member', args, check=True)
    assert run.changed and run['operation'] == 'added' and run['member']['id'] is None, run
    assert _members(etcd_cluster) == before

    run = run_module('etcd_member', args)
    assert run.changed and not run.failed and run['operation'] == 'added', run
    new_id = run['member']['id']
    members = _members(etcd_cluster)
    assert members[new_id]['is_learner'] and members[new_id]['peer_urls'] == [peer4]
    initial = run['initial_cluster']
    assert sorted(initial.split(',')) == sorted(
        ['etcd%d=https://%s:2380' % (i, etcd_cluster.ip(i)) for i in (1, 2, 3)] + ['etcd4=%s' % peer4])

    # second run: the unstarted learner is recognised by its peer URL
    run = run_module('etcd_member', args)
    assert not run.changed and run['member']['id'] == new_id, run

    try:
        etcd_cluster.start_member('etcd4', ip4, initial, state='existing')
        run = run_module('etcd_member', dict(args, promote=True), check=True)
        assert run.changed and run['operation'] == 'promoted' and run['member']['is_learner'] is False
        assert _members(etcd_cluster)[new_id]['is_learner'] is True

        _move_leader_off_first_endpoint(etcd_cluster)
        run = run_module('etcd_member', dict(args, promote=True, wait_timeout=90))
        assert run.changed and not run.failed and run['operation'] == 'promoted', run
        assert _members(etcd_cluster)[new_id]['is_learner'] is False
        assert _members(etcd_cluster)[new_id]['name'] == 'etcd4'
        run = run_module('etcd_member', dict(args, promote=True))
        assert not run.changed and not run.failed

        info = run_module('etcd_info', conn)
        assert info['quorum'] == {'voting': 4, 'healthy_voting': 4, 'required': 3, 'ok': True}, info

        absent = dict(conn, name='etcd4', peer_urls=[peer4], state='absent')
        run = run_module('etcd_member', absent, check=True, diff=True)
        assert run.changed and run['operation'] == 'removed' and run['member'] is None
        assert new_id in _members(etcd_cluster)
        run = run_module('etcd_member', absent)
        assert run.changed and not run.failed, run
        assert new_id not in _members(etcd_cluster)
        run = run_module('etcd_member', absent)
        assert not run.changed and not run.failed
    finally:
        if any(m.name == 'etcd4' for m in etcd_cluster.members):
            etcd_cluster.stop_member('etcd4')
        etcd_cluster.remove_data('etcd4')
        leftover = [m for m in _members(etcd_cluster).values() if m['peer_urls'] == [peer4]]
        for m in leftover:
            etcd_cluster.client().member_remove(m['id'])
    etcd_cluster.wait_healthy()


def test_member_remove_unstarted_learner(etcd_cluster, run_module):
    peer = 'https://%s:2380' % etcd_cluster.ip(5)
    run = run_module('etcd_member', dict(etcd_cluster.connection, name='etcd5', peer_urls=[peer], learner=True))
    assert run.changed
    # a learner that never started cannot be promoted: the failure says so
    run = run_module('etcd_member', dict(etcd_cluster.connection, name='etcd5', peer_urls=[peer], promote=True,
                                         wait_timeout=1))
    assert_clean_failure(run, 'could not be promoted', 'wait_timeout=1', 'has not started', 'in sync with leader')
    assert run['learner']['started'] is False and run['learner']['leader_endpoint'] in etcd_cluster.endpoints, run
    run = run_module('etcd_member', dict(etcd_cluster.connection, peer_urls=[peer], state='absent'))
    assert run.changed and not run.failed, run
    assert not [m for m in _members(etcd_cluster).values() if m['peer_urls'] == [peer]]


def test_member_absent_by_name_of_unstarted_member_fails(etcd_cluster, run_module):
    """An added but never started member has no name in etcd yet: removing it by name must not be a silent ok."""
    peer = 'https://%s:2380' % etcd_cluster.ip(6)
    run = run_module('etcd_member', dict(etcd_cluster.connection, name='etcd6', peer_urls=[peer], learner=True))
    assert run.changed and not run.failed, run
    try:
        run = run_module('etcd_member', dict(etcd_cluster.connection, name='etcd6', state='absent'))
        assert_clean_failure(run, 'etcd6', 'unstarted', peer, 'peer_urls')
        assert [m for m in _members(etcd_cluster).values() if m['peer_urls'] == [peer]]
        # a name that matches a started member is still removed by name alone elsewhere; an unknown name with no
        # unstarted member stays a no-op (test_member_absent_unknown_is_noop)
    finally:
        run = run_module('etcd_member', dict(etcd_cluster.connection, peer_urls=[peer], state='absent'))
    assert run.changed and not run.failed, run
    assert not [m for m in _members(etcd_cluster).values() if m['peer_urls'] == [peer]]


def test_member_removal_refused_when_it_breaks_quorum(etcd_cluster, run_module):
    conn = dict(etcd_cluster.connection, timeout=3)
    e1, e3 = etcd_cluster.member('etcd1'), etcd_cluster.member('etcd3')
    before = _members(etcd_cluster)
    initial = ','.join('etcd%d=https://%s:2380' % (i, etcd_cluster.ip(i)) for i in (1, 2, 3))
    etcd_cluster.stop_member('etcd3')
    try:
        run = run_module('etcd_member', dict(conn, name='etcd1', peer_urls=[e1.peer_url], state='absent'))
        assert_clean_failure(run, 'refusing', 'etcd1', 'quorum', 'force')
        run = run_module('etcd_member', dict(conn, name='etcd1', state='absent'), check=True)
        assert_clean_failure(run, 'refusing', 'quorum')
        # removing the stopped member keeps quorum (check mode only: we want it back)
        run = run_module('etcd_member', dict(conn, name='etcd3', peer_urls=[e3.peer_url], state='absent'),
                         check=True)
        assert run.changed and not run.failed, run
        # force overrides (check mode only)
        run = run_module('etcd_member', dict(conn, name='etcd1', state='absent', force=True), check=True)
        assert run.changed and not run.failed and 'quorum' in ' '.join(run.get('warnings', [])), run
        assert _members(etcd_cluster) == before
    finally:
        etcd_cluster.start_member('etcd3', etcd_cluster.ip(3), initial, state='new')
    etcd_cluster.wait_healthy()
    assert _members(etcd_cluster) == before
