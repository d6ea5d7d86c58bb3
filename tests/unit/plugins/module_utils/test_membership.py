# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Membership logic against a scripted fake cluster: promotion goes to the leader, add is idempotent, the removal
guard, and "was I removed?"."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _membership as mb
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError


def member(i, learner=False, name=None):
    return dict(id=i, name='etcd%d' % i if name is None else name, peer_urls=['https://10.0.0.%d:2380' % i],
                client_urls=['https://10.0.0.%d:2379' % i] if name != '' else [], is_learner=learner)


class FakeCluster(object):
    """Endpoints are 10.0.0.<id>; ``leader`` is the leader id; ``in_sync_after`` promotions fail as not in sync
    first; ``down`` ids do not answer."""

    def __init__(self, members, leader=1, endpoints=(1,), in_sync_after=0, down=()):
        self.members = list(members)
        self.leader = leader
        self.endpoints = ['https://10.0.0.%d:2379' % i for i in endpoints]
        self.in_sync_after = in_sync_after
        self.down = set(down)
        self.promotions = []
        self.removed = []

    def _id(self, endpoint):
        return int(endpoint.split('10.0.0.')[1].split(':')[0])

    def status(self, endpoint, timeout=None):
        i = self._id(endpoint)
        if i in self.down:
            raise EtcdError('down', kind='unreachable')
        return dict(endpoint=endpoint, member_id=i, leader_id=self.leader, is_leader=i == self.leader,
                    raft_index=100, raft_applied_index=100, cluster_id=7)

    def probe(self, endpoint, timeout=None):
        try:
            st = self.status(endpoint)
        except EtcdError as err:
            return dict(endpoint=endpoint, healthy=False, error=err.message, member_id=None, leader_id=None,
                        errors=[])
        return dict(st, healthy=True, error=None, errors=[])

    def endpoint_report(self, timeout=None):
        return [self.probe(ep) for ep in self.endpoints]

    def member_list(self, endpoint=None, linearizable=False, timeout=None):
        if endpoint is not None and self._id(endpoint) in self.down:
            raise EtcdError('down', kind='unreachable')
        return dict(cluster_id=7, member_id=1, members=[dict(m) for m in self.members])

    def member_add(self, peer_urls, is_learner=False):
        new = dict(id=99, name='', peer_urls=list(peer_urls), client_urls=[], is_learner=is_learner)
        self.members.append(new)
        return dict(member=new, members=list(self.members))

    def member_promote(self, member_id, endpoint=None):
        self.promotions.append(endpoint)
        if endpoint is None or self._id(endpoint) != self.leader:
            raise EtcdError('user name is empty', kind='auth', server_message='etcdserver: user name is empty')
        if len(self.promotions) <= self.in_sync_after:
            raise EtcdError('not in sync', kind='precondition',
                            server_message='etcdserver: can only promote a learner member which is in sync with '
                                           'leader')
        for m in self.members:
            if m['id'] == member_id:
                m['is_learner'] = False
        return list(self.members)

    def member_remove(self, member_id):
        self.removed.append(member_id)
        self.members = [m for m in self.members if m['id'] != member_id]
        return list(self.members)


def no_sleep(seconds):  # pylint: disable=unused-argument
    return None


def test_promotion_is_sent_to_the_leader_found_through_member_urls():
    # only a follower is configured: the leader (3) is found through its advertised client URL
    fake = FakeCluster([member(1), member(2), member(3), member(4, learner=True)], leader=3, endpoints=(1,),
                       in_sync_after=2)
    promoted, members = mb.promote_learner(fake, 4, wait_timeout=30, sleep=no_sleep)
    assert promoted and fake.promotions == ['https://10.0.0.3:2379'] * 3
    assert not [m for m in members if m['id'] == 4][0]['is_learner']


def test_promote_voter_is_a_no_op_and_timeout_reports_learner_state():
    fake = FakeCluster([member(1), member(2)])
    assert mb.promote_learner(fake, 2, wait_timeout=1, sleep=no_sleep) == (False, fake.members)
    clock = iter(range(0, 1000, 10))
    fake = FakeCluster([member(1), member(4, learner=True)], in_sync_after=1000)
    with pytest.raises(EtcdError) as err:
        mb.promote_learner(fake, 4, wait_timeout=25, sleep=no_sleep, clock=lambda: next(clock))
    assert 'could not be promoted' in str(err.value) and err.value.details['learner']['leader_raft_index'] == 100
    assert err.value.kind == 'precondition' and err.value.details['attempts'] == 2


def test_add_learner_is_idempotent_and_check_mode_changes_nothing():
    fake = FakeCluster([member(1), member(2)])
    res = mb.add_learner(fake, 'etcd3', ['https://10.0.0.3:2380'], check_mode=True)
    assert res['added'] and res['member']['id'] is None and len(fake.members) == 2
    assert res['initial_cluster'] == ('etcd1=https://10.0.0.1:2380,etcd2=https://10.0.0.2:2380,'
                                      'etcd3=https://10.0.0.3:2380')
    res = mb.add_learner(fake, 'etcd3', ['https://10.0.0.3:2380'])
    assert res['added'] and res['member']['is_learner'] and len(fake.members) == 3
    again = mb.add_learner(fake, 'etcd3', ['https://10.0.0.3:2380'])
    assert not again['added'] and again['initial_cluster'] == res['initial_cluster']
    with pytest.raises(EtcdError) as err:
        mb.add_learner(fake, 'etcd1', ['https://10.0.0.2:2380'])
    assert err.value.kind == 'config'


def test_retry_unhealthy_retries_only_that_refusal():
    answers = [EtcdError('x', kind='unavailable', server_message='etcdserver: unhealthy cluster'), 'ok']

    def func():
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a
    assert mb.retry_unhealthy(func, 10, sleep=no_sleep) == 'ok'

    def other():
        raise EtcdError('x', kind='unavailable', server_message='other')
    with pytest.raises(EtcdError):
        mb.retry_unhealthy(other, 10, sleep=no_sleep)


def view_of(fake, healthy):
    from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import quorum
    health = dict((m['id'], m['id'] in healthy) for m in fake.members)
    return dict(members=list(fake.members), health=health, quorum=quorum(fake.members, set(healthy)))


@pytest.mark.parametrize('healthy, remove, force, removed, refused', [
    ({1, 2, 3}, 3, False, True, False),
    ({1, 2}, 3, False, True, False),       # the dead one may go
    ({1, 3}, 3, False, False, True),       # would leave 1 of 2 healthy
    ({1, 3}, 3, True, True, False),        # forced
    ({1, 2, 3}, 9, False, False, False),   # not a member: nothing to do
])
def test_remove_member_guard(healthy, remove, force, removed, refused):
    fake = FakeCluster([member(1), member(2), member(3)])
    view = view_of(fake, healthy)
    if refused:
        with pytest.raises(EtcdError) as err:
            mb.remove_member(fake, remove, force=force, view=view)
        assert err.value.kind == 'precondition' and err.value.details['quorum']['voting'] == 3
        assert fake.removed == []
        return
    res = mb.remove_member(fake, remove, force=force, view=view)
    assert res['removed'] == removed and fake.removed == ([remove] if removed else [])
    assert bool(res['warning']) == (force and removed)


def test_was_removed():
    fake = FakeCluster([member(1), member(2)])
    assert mb.was_removed(fake, 2) is False
    assert mb.was_removed(fake, 3) is True
    fake.down = {1, 2}
    assert mb.was_removed(fake, 3, endpoints=['https://10.0.0.1:2379', 'https://10.0.0.2:2379']) is None


@pytest.mark.parametrize('members, name, peer_urls, words', [
    # the name is known: nothing to say
    ([member(1), member(2), member(3, learner=True, name='')], 'etcd2', None, None),
    # peer URLs given: they identify the member, started or not
    ([member(1), member(3, learner=True, name='')], 'etcd3', ['https://10.0.0.3:2380'], None),
    # unknown name, every member started: a true no-op
    ([member(1), member(2)], 'etcd9', None, None),
    # unknown name while a member has not started: it may be the one meant
    ([member(1), member(2), member(3, learner=True, name='')], 'etcd3', None,
     ['etcd3', 'unstarted', '0000000000000003', 'https://10.0.0.3:2380', 'peer_urls']),
    ([member(1), member(4, name=''), member(5, learner=True, name='')], 'etcd4', None,
     ['https://10.0.0.4:2380', 'https://10.0.0.5:2380', 'peer_urls']),
    # removal by peer URLs only: no name to resolve
    ([member(1), member(3, learner=True, name='')], None, ['https://10.0.0.7:2380'], None),
])
def test_absent_by_name_with_unstarted_members(members, name, peer_urls, words):
    problem = mb.unresolved_absent(members, name, peer_urls)
    if words is None:
        assert problem is None
    else:
        for word in words:
            assert word in problem, (word, problem)
