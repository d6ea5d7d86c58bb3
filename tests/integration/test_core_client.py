# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The core against a real etcd (TLS, client-cert auth, etcd auth on): the typed auth calls and their gateway
field names, the leader discovery, "was removed?", and a snapshot saved from the stream into the store."""

import time
import uuid

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _membership as mb
from ansible_collections.etcdkit.etcd.plugins.module_utils import _restore as rs
from ansible_collections.etcdkit.etcd.plugins.module_utils import _snapstore as store
from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import find_leader, health_gate
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import utc_now
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id, prefix_end


def test_auth_calls_round_trip(etcd_cluster):
    c = etcd_cluster.client()
    tag = uuid.uuid4().hex[:6]
    user, role, password = 'it-user-%s' % tag, 'it-role-%s' % tag, 'pass with spaces %s' % tag
    prefix = '/it-app-%s/' % tag
    assert c.auth_status()['enabled'] is True
    try:
        assert c.role_get(role) is None and c.user_get(user) is None
        c.role_add(role)
        assert c.role_get(role) == dict(name=role, permissions=[])
        c.role_grant_permission(role, 'readwrite', prefix, prefix_end(prefix))
        c.role_grant_permission(role, 'read', '/it-cfg-%s' % tag)
        perms = sorted(c.role_get(role)['permissions'], key=lambda p: p['key'])
        assert perms == [dict(type='readwrite', key=prefix, range_end=prefix_end(prefix).decode()),
                         dict(type='read', key='/it-cfg-%s' % tag, range_end='')]
        c.user_add(user, password)
        assert c.user_get(user) == dict(name=user, roles=[]) and user in c.user_list() and role in c.role_list()
        c.user_grant_role(user, role)
        assert c.user_get(user)['roles'] == [role]
        assert c.authenticate(user, password) is True
        assert c.authenticate(user, 'wrong') is False and c.authenticate('nobody-%s' % tag, 'x') is False
        app = etcd_cluster.client(user=user, password=password)
        app.put(prefix + 'k', 'v')
        assert app.get(prefix + 'k')['value'] == 'v'
        with pytest.raises(EtcdError) as err:
            app.put('/elsewhere-%s' % tag, 'v')
        assert err.value.kind == 'permission'
        c.user_change_password(user, 'new ' + password)
        assert c.authenticate(user, 'new ' + password) and not c.authenticate(user, password)
        c.role_revoke_permission(role, '/it-cfg-%s' % tag)
        assert [p['key'] for p in c.role_get(role)['permissions']] == [prefix]
        c.user_revoke_role(user, role)
        assert c.user_get(user)['roles'] == []
        with pytest.raises(EtcdError) as err:
            c.user_add(user, password)
        assert err.value.kind == 'exists'
        cert_only = 'it-cert-%s' % tag
        c.user_add(cert_only, no_password=True)
        assert c.user_get(cert_only) == dict(name=cert_only, roles=[])
        assert c.authenticate(cert_only, '') is False
        c.user_delete(cert_only)
    finally:
        for name in (user, 'it-cert-%s' % tag):
            if c.user_get(name) is not None:
                c.user_delete(name)
        if c.role_get(role) is not None:
            c.role_delete(role)
        c.delete(prefix, prefix=True)
    assert c.user_get(user) is None and c.role_get(role) is None


def test_auth_status_without_credentials_says_enabled(etcd_cluster):
    anonymous = etcd_cluster.client(user=None, password=None)
    assert anonymous.auth_status()['enabled'] is True


def test_leader_found_from_a_follower_and_was_removed(etcd_cluster):
    c = etcd_cluster.client()
    leader_ep, leader = find_leader(c)
    assert leader['is_leader'] and leader_ep in etcd_cluster.endpoints
    follower = [ep for ep in etcd_cluster.endpoints if ep != leader_ep][0]
    only_follower = etcd_cluster.client(endpoints=[follower])
    assert find_leader(only_follower)[0] == leader_ep  # through the leader's advertised client URL
    assert mb.was_removed(c, leader['member_id']) is False
    assert mb.was_removed(c, 12345) is True
    view, alarms, problems = health_gate(c, max_raft_index_spread=1000)
    assert problems == [] and alarms == [] and view['leader_id'] == leader['member_id']


def test_snapshot_saved_from_the_stream_is_verified_and_restorable(etcd_cluster, tmp_path):
    c = etcd_cluster.client()
    ep = etcd_cluster.endpoints[1]
    st = c.status(ep)
    base = store.snapshot_basename('core', utc_now(), st['revision'])
    side = store.save_stream(c.snapshot(ep), str(tmp_path), base,
                             dict(revision=st['revision'], cluster_id=format_id(st['cluster_id']),
                                  member_id=format_id(st['member_id']), etcd_version=st['version'], endpoint=ep))
    checked = store.verify_file(str(tmp_path / base))
    assert checked['sidecar_format'] == store.FORMAT_V1 and checked['sha256'] == side['sha256']
    entry = store.scan(str(tmp_path), 'core')[0]
    assert entry['verified'] and entry['cluster_id'] == format_id(st['cluster_id'])
    status = rs.snapshot_status(str(etcd_cluster.bin_dir / 'etcdutl'), str(tmp_path / base))
    assert status['revision'] >= st['revision'] and status['total_keys'] > 0
    target = str(tmp_path / 'restored')
    rs.restore(str(etcd_cluster.bin_dir / 'etcdutl'), str(tmp_path / base), target,
               rs.restore_params(name='r1', initial_cluster='r1=http://127.0.0.1:2380',
                                 initial_advertise_peer_urls=['http://127.0.0.1:2380']))
    assert (tmp_path / 'restored' / 'member' / 'snap' / 'db').is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([base, base + '.json', 'restored'])


def test_learner_joins_counts_healthy_and_is_promoted_via_the_leader(etcd_cluster):
    """add_learner -> start -> the learner's probe is healthy (serializable /health) and the gate open ->
    promote_learner through the leader -> guarded removal."""
    c = etcd_cluster.client()
    ip = etcd_cluster.ip(6)
    peer, url = 'https://%s:2380' % ip, 'https://%s:2379' % ip
    res = mb.add_learner(c, 'etcd6', [peer])
    new_id = res['member']['id']
    assert res['added'] and res['member']['is_learner'] and 'etcd6=%s' % peer in res['initial_cluster']
    assert not mb.add_learner(c, 'etcd6', [peer])['added']
    try:
        etcd_cluster.start_member('etcd6', ip, res['initial_cluster'], state='existing')
        deadline = time.time() + 60
        probe = c.probe(url)
        while not probe['healthy'] and time.time() < deadline:
            time.sleep(0.5)
            probe = c.probe(url)
        assert probe['is_learner'] and probe['healthy'], probe
        view, alarms, problems = health_gate(c)
        assert problems == [] and view['quorum']['voting'] == 3, problems
        promoted, members = mb.promote_learner(c, new_id, wait_timeout=60)
        assert promoted and not [m for m in members if m['id'] == new_id][0]['is_learner']
        assert mb.remove_member(c, new_id)['removed']
        assert mb.was_removed(c, new_id) is True
    finally:
        if any(m.name == 'etcd6' for m in etcd_cluster.members):
            etcd_cluster.stop_member('etcd6')
        etcd_cluster.remove_data('etcd6')
        if mb.was_removed(c, new_id) is False:
            c.member_remove(new_id)
    etcd_cluster.wait_healthy()


def test_snapshot_of_a_multi_megabyte_db_streams_in_blocks_and_verifies(etcd_cluster, tmp_path):
    """Hundreds of gateway lines (32 KiB of data each) read in 1 MiB blocks, blobs cut out before the JSON parser:
    the saved file's SHA-256 trailer (checked by save_stream) and etcdutl both accept it."""
    import os
    c = etcd_cluster.client()
    prefix = '/it-bigsnap-%s/' % uuid.uuid4().hex[:6]
    try:
        for i in range(48):
            c.put('%s%03d' % (prefix, i), os.urandom(96 * 1024).hex()[:128 * 1024])
        ep = etcd_cluster.endpoints[0]
        st = c.status(ep)
        base = store.snapshot_basename('big', utc_now(), st['revision'])
        side = store.save_stream(c.snapshot(ep), str(tmp_path), base, dict(revision=st['revision']))
        assert side['size'] > 6 * 1024 * 1024 and side['size'] % 512 == store.TRAILER_SIZE
        checked = store.verify_file(str(tmp_path / base))
        assert checked['sha256'] == side['sha256'] and checked['size'] == side['size']
        status = rs.snapshot_status(str(etcd_cluster.bin_dir / 'etcdutl'), str(tmp_path / base))
        assert status['revision'] >= st['revision'] and status['total_keys'] >= 48
    finally:
        c.delete(prefix, prefix=True)
