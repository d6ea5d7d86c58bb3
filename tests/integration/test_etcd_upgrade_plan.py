# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""etcd_upgrade_plan against the real 3-member test cluster (the etcd fixture version under test)."""
from conftest import ETCD_VERSION, assert_clean_failure


def _parts(version):
    return tuple(int(x) for x in version.split('.'))


def _leader_name(cluster):
    client = cluster.client()
    leader = client.status(cluster.endpoints[0])['leader_id']
    return dict((m['id'], m['name']) for m in client.member_list()['members'])[leader]


def test_plan_current_version_is_a_noop(etcd_cluster, run_module):
    run = run_module('etcd_upgrade_plan',
                     dict(etcd_cluster.connection, target_version=ETCD_VERSION, check_hashkv=True))
    assert not run.failed and not run.changed, run
    assert run['decision'] == 'none' and run['pending'] == [] and run['next'] is None
    assert sorted(run['versions'].values()) == [ETCD_VERSION] * 3
    assert run['leader'] == _leader_name(etcd_cluster)
    assert run['hashkv_revision'] > 0
    # every member digested its key space at one revision (3.4 too: the range API, not the gateway's Hash)
    assert len(run['hashkv']) == 3 and all(run['hashkv'].values()), run
    assert len(set(run['hashkv'].values())) == 1 and len(set(run['hashkv_keys'].values())) == 1, run


def test_plan_patch_upgrade_leader_last(etcd_cluster, run_module):
    major, minor_, patch = _parts(ETCD_VERSION)
    target = '%d.%d.%d' % (major, minor_, patch + 1)
    run = run_module('etcd_upgrade_plan', dict(etcd_cluster.connection, target_version=target), check=True)
    assert not run.failed and not run.changed, run
    assert run['decision'] == 'patch' and len(run['pending']) == 3
    assert run['pending'][-1] == run['leader'] == _leader_name(etcd_cluster)
    assert run['next'] == run['pending'][0] and run['v2store_check'] is False


def test_plan_refuses_downgrade_and_skipped_minor(etcd_cluster, run_module):
    major, minor_, patch = _parts(ETCD_VERSION)
    down = '%d.%d.%d' % (major, minor_ - 1, 99)
    run = run_module('etcd_upgrade_plan', dict(etcd_cluster.connection, target_version=down))
    assert_clean_failure(run, 'downgrade', ETCD_VERSION)
    assert run['decision'] == 'refused' and run['pending'] == []
    skip = '%d.%d.0' % (major, minor_ + 2)
    run = run_module('etcd_upgrade_plan', dict(etcd_cluster.connection, target_version=skip))
    assert_clean_failure(run, 'skip a minor')
    # fail_on_refusal=false reports without failing
    run = run_module('etcd_upgrade_plan', dict(etcd_cluster.connection, target_version=skip, fail_on_refusal=False))
    assert not run.failed and run['decision'] == 'refused' and run['problems'], run


def test_plan_minor_floor(etcd_cluster, run_module):
    major, minor_, patch = _parts(ETCD_VERSION)
    target = '%d.%d.0' % (major, minor_ + 1)
    run = run_module('etcd_upgrade_plan', dict(etcd_cluster.connection, target_version=target, fail_on_refusal=False))
    assert not run.failed, run
    if (major, minor_) == (3, 5) and patch < 32:
        assert run['decision'] == 'refused' and any('3.5.32' in p for p in run['problems']), run
    elif (major, minor_) == (3, 4):
        # the test cluster runs with etcd auth on: no rolling 3.4 -> 3.5 upgrade
        assert run['auth_enabled'] is True and run['decision'] == 'refused', run
        assert any('authentication on' in p for p in run['problems']), run
    else:
        assert run['decision'] == 'minor', run


def test_plan_bad_input(etcd_cluster, run_module):
    run = run_module('etcd_upgrade_plan', dict(etcd_cluster.connection, target_version='3.5'))
    assert_clean_failure(run, 'invalid')
    run = run_module('etcd_upgrade_plan', dict(etcd_cluster.connection, target_version=ETCD_VERSION, wait_timeout=-1))
    assert_clean_failure(run, 'wait_timeout')
