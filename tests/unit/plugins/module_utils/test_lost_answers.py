# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Writes whose answer is lost (the connection breaks after etcd applied them, or a timeout): the transport must
not send them again to another endpoint, and the modules re-read and report what really happened. A fake JSON
gateway (``FakeEtcd``) is injected as the transport's opener; it applies a write and then breaks the connection,
or breaks it before applying."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import io
import json
import socket

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils import _membership as mb
from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.modules import etcd_auth, etcd_key


def _b(text):
    return base64.b64decode(text) if text else b''


def _e(data):
    return base64.b64encode(data).decode('ascii')


class Resp(object):
    def __init__(self, body):
        self._io = io.BytesIO(json.dumps(body).encode('utf-8'))

    def read(self):
        return self._io.read()

    def readline(self):
        return self._io.readline()

    def close(self):
        pass


class FakeEtcd(object):
    """A tiny etcd behind the JSON gateway: keys, members, auth status. ``faults`` maps a path to
    ``('after' | 'before', exception)``: the next request on that path is applied (after) or not (before), then the
    exception is raised as the connection would. ``sent`` records (endpoint, path) of every request."""

    def __init__(self):
        self.rev = 1
        self.kv = {}
        self.members = [dict(ID='1', name='etcd1', peerURLs=['https://10.0.0.1:2380'],
                             clientURLs=['https://10.0.0.1:2379'])]
        self.auth = False
        self.faults = {}
        self.sent = []
        self.users = {}

    def __call__(self, url, data=None, headers=None, method='POST', timeout=10, tls=None):
        endpoint, path = url.split('/v3/', 1)[0], '/v3/' + url.split('/v3/', 1)[1]
        self.sent.append((endpoint, path))
        body = json.loads(data) if data else {}
        fault = self.faults.pop(path, None)
        if fault and fault[0] == 'before':
            raise fault[1]
        answer = getattr(self, 'do_' + path.split('/v3/')[1].replace('/', '_'))(body)
        if fault:
            raise fault[1]
        if 'error' not in answer:
            answer.setdefault('header', {'revision': str(self.rev), 'cluster_id': '9', 'member_id': '1'})
        return Resp(answer)

    def _kvs(self, key, end=None):
        return sorted(k for k in self.kv if (k == key if not end else key <= k < end))

    def do_kv_range(self, body):
        keys = self._kvs(_b(body['key']), _b(body.get('range_end')))
        return dict(kvs=[dict(key=_e(k), value=_e(self.kv[k][0]), mod_revision=str(self.kv[k][1]),
                              create_revision=str(self.kv[k][2]), version='1') for k in keys],
                    count=str(len(keys)))

    def _put(self, key, value):
        self.rev += 1
        self.kv[key] = (value, self.rev, self.kv.get(key, (None, None, self.rev))[2])

    def do_kv_deleterange(self, body):
        keys = self._kvs(_b(body['key']), _b(body.get('range_end')))
        if keys:
            self.rev += 1
        prev = [dict(key=_e(k), value=_e(self.kv[k][0])) for k in keys]
        for k in keys:
            del self.kv[k]
        return dict(deleted=str(len(keys)), prev_kvs=prev)

    def do_kv_txn(self, body):
        ok = True
        for c in body['compare']:
            cur = self.kv.get(_b(c['key']))
            if c['target'] == 'MOD':
                ok = ok and cur is not None and str(cur[1]) == c['mod_revision']
            else:
                ok = ok and cur is None
        if ok:
            for op in body['success']:
                if 'request_put' in op:
                    self._put(_b(op['request_put']['key']), _b(op['request_put']['value']))
                else:
                    self.do_kv_deleterange(op['request_delete_range'])
        return dict(succeeded=ok)

    def do_cluster_member_list(self, body):
        return dict(members=self.members)

    def do_cluster_member_add(self, body):
        new = dict(ID=str(100 + len(self.members)), peerURLs=body['peerURLs'], isLearner=body.get('isLearner', False))
        self.members.append(new)
        return dict(member=new, members=self.members)

    def do_cluster_member_remove(self, body):
        if body['ID'] not in [m['ID'] for m in self.members]:
            return dict(error='etcdserver: member not found', code=5, message='etcdserver: member not found')
        self.members = [m for m in self.members if m['ID'] != body['ID']]
        return dict(members=self.members)

    users = None

    def do_auth_user_get(self, body):
        if body['name'] not in self.users:
            return dict(error='etcdserver: user name not found', code=9, message='etcdserver: user name not found')
        return dict(roles=self.users[body['name']])

    def do_auth_user_add(self, body):
        if body['name'] in self.users:
            return dict(error='etcdserver: user name already exists', code=9,
                        message='etcdserver: user name already exists')
        self.users[body['name']] = []
        return {}

    def do_auth_user_grant(self, body):
        self.users[body['user']].append(body['role'])
        return {}

    def do_auth_role_list(self, body):
        return dict(roles=['root', 'app'])

    def do_auth_status(self, body):
        return dict(enabled=self.auth)

    def do_auth_enable(self, body):
        self.auth = True
        return {}


def reset():
    return ConnectionResetError(104, 'Connection reset by peer')


def client(fake, endpoints=('https://10.0.0.1:2379', 'https://10.0.0.2:2379')):
    return EtcdClient(list(endpoints), opener=fake)


class Failed(Exception):
    pass


class FakeModule(object):
    check_mode = False
    _diff = False

    def __init__(self, params=None):
        self.params = params or {}
        self.result = dict(changed=False)
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail(self, msg, **extra):
        raise Failed(msg, dict(self.result, **extra))


# ------------------------------------------------------------------------------------------- transport

@pytest.mark.parametrize('exc', [reset(), socket.timeout('timed out')])
def test_a_write_whose_answer_was_lost_is_not_sent_again(exc):
    fake = FakeEtcd()
    fake.faults['/v3/kv/deleterange'] = ('after', exc)
    fake.kv[b'k'] = (b'v', 1, 1)
    with pytest.raises(EtcdError) as err:
        client(fake).delete('k')
    assert [p for dummy, p in fake.sent] == ['/v3/kv/deleterange'], fake.sent
    assert err.value.details.get('may_have_been_applied') is True
    assert 'may have been applied' in err.value.message


def test_a_write_refused_at_connect_goes_to_the_next_endpoint():
    from urllib.error import URLError
    fake = FakeEtcd()
    fake.faults['/v3/kv/deleterange'] = ('before', URLError(ConnectionRefusedError(111, 'Connection refused')))
    fake.kv[b'k'] = (b'v', 1, 1)
    assert client(fake).delete('k')['deleted'] == 1
    assert [e for e, dummy in fake.sent] == ['https://10.0.0.1:2379', 'https://10.0.0.2:2379']


# ------------------------------------------------------------------------------------------- etcd_key

@pytest.mark.parametrize('existing', [None, (b'old', 2, 2)])
def test_key_put_applied_then_connection_broke_is_changed(existing):
    fake = FakeEtcd()
    if existing:
        fake.kv[b'/k'] = existing
        fake.rev = 2
    fake.faults['/v3/kv/txn'] = ('after', reset())
    module = FakeModule()
    etcd_key.set_value(module, client(fake), '/k', 'new')
    assert fake.kv[b'/k'][0] == b'new'
    assert module.result['changed'] is True and module.result['value'] == 'new', module.result
    assert [p for dummy, p in fake.sent].count('/v3/kv/txn') == 1
    assert any('re-read' in w for w in module.warnings), module.warnings


def test_key_put_lost_before_apply_fails_unchanged():
    fake = FakeEtcd()
    fake.faults['/v3/kv/txn'] = ('before', socket.timeout('timed out'))
    module = FakeModule()
    with pytest.raises(EtcdError) as err:
        etcd_key.set_value(module, client(fake), '/k', 'new')
    assert b'/k' not in fake.kv
    assert 'was not applied' in err.value.message and err.value.details['may_have_been_applied'] is False
    assert module.result['changed'] is False


def test_key_delete_applied_then_connection_broke_is_changed():
    fake = FakeEtcd()
    fake.kv[b'/k'] = (b'v', 2, 2)
    fake.rev = 2
    fake.faults['/v3/kv/txn'] = ('after', reset())
    module = FakeModule()
    etcd_key.delete(module, client(fake), '/k', False)
    assert b'/k' not in fake.kv and module.result['changed'] is True, module.result


def test_key_prefix_delete_applied_then_connection_broke_is_changed():
    fake = FakeEtcd()
    fake.kv[b'/p/a'] = (b'v', 2, 2)
    fake.rev = 2
    fake.faults['/v3/kv/deleterange'] = ('after', reset())
    module = FakeModule()
    etcd_key.delete(module, client(fake), '/p/', True)
    assert not fake.kv and module.result['changed'] is True, module.result


# ------------------------------------------------------------------------------------------- membership

def test_member_add_applied_then_connection_broke_returns_the_member():
    fake = FakeEtcd()
    fake.faults['/v3/cluster/member/add'] = ('after', reset())
    res = mb.add_learner(client(fake), 'etcd2', ['https://10.0.0.2:2380'], learner=True, wait_timeout=0)
    assert res['added'] is True and res['member']['peer_urls'] == ['https://10.0.0.2:2380']
    assert 'etcd2=https://10.0.0.2:2380' in res['initial_cluster']
    assert len(fake.members) == 2 and [p for dummy, p in fake.sent].count('/v3/cluster/member/add') == 1


def test_member_add_lost_before_apply_raises_not_applied():
    fake = FakeEtcd()
    fake.faults['/v3/cluster/member/add'] = ('before', socket.timeout('timed out'))
    with pytest.raises(EtcdError) as err:
        mb.add_learner(client(fake), 'etcd2', ['https://10.0.0.2:2380'], learner=True, wait_timeout=0)
    assert 'was not applied' in err.value.message and len(fake.members) == 1


def test_member_add_then_listing_fails_still_reports_the_addition():
    """The add was answered; the member list read after it fails: the addition must not be lost."""
    fake = FakeEtcd()
    calls = []
    real = fake.do_cluster_member_add

    def add_without_members(body):
        calls.append(1)
        return dict(member=real(body)['member'])
    fake.do_cluster_member_add = add_without_members
    fake.faults['/v3/cluster/member/list'] = ('before', socket.timeout('timed out'))
    cl = client(fake, endpoints=('https://10.0.0.1:2379',))
    res = mb.add_learner(cl, 'etcd2', ['https://10.0.0.2:2380'], learner=True, wait_timeout=0,
                         members=[dict(id=1, name='etcd1', peer_urls=['https://10.0.0.1:2380'], client_urls=[],
                                       is_learner=False)])
    assert calls and res['added'] is True and 'etcd2=https://10.0.0.2:2380' in res['initial_cluster']


def test_member_remove_applied_then_connection_broke_is_removed():
    fake = FakeEtcd()
    fake.members.append(dict(ID='7', name='etcd7', peerURLs=['https://10.0.0.7:2380'], clientURLs=[]))
    cl = client(fake)
    members = cl.member_list()['members']
    view = dict(members=members, health={1: True, 7: True}, quorum={})
    fake.faults['/v3/cluster/member/remove'] = ('after', reset())
    res = mb.remove_member(cl, 7, view=view, force=True, wait_timeout=0)
    assert res['removed'] is True and [m['id'] for m in res['members']] == [1]


# ------------------------------------------------------------------------------------------- etcd_auth

@pytest.mark.parametrize('exc', [reset(), socket.timeout('timed out')])
def test_auth_enable_applied_then_connection_broke_is_changed(exc):
    fake = FakeEtcd()
    fake.faults['/v3/auth/enable'] = ('after', exc)
    module = FakeModule(dict(state='enabled'))
    module.client = client(fake)
    module.client.user_get = lambda name: dict(name='root', roles=['root'])
    etcd_auth.run(module)
    assert fake.auth and module.result['changed'] is True and module.result['enabled'] is True, module.result


# ------------------------------------------------------------------------------------------- etcd_user

def user_module(fake):
    module = FakeModule(dict(name='app', state='present', user_password='pw', no_password=False,
                             update_password='on_create', roles=['app'], exclusive_roles=False))
    module.client = client(fake)
    return module


def test_user_add_applied_then_connection_broke_goes_on_with_the_roles():
    from ansible_collections.etcdkit.etcd.plugins.modules import etcd_user
    fake = FakeEtcd()
    fake.faults['/v3/auth/user/add'] = ('after', reset())
    module = user_module(fake)
    etcd_user.run(module)
    assert fake.users == {'app': ['app']}, fake.users
    assert module.result['changed'] is True and any('re-read' in w for w in module.warnings), module.result


def test_user_add_lost_before_apply_fails_and_says_not_applied():
    from ansible_collections.etcdkit.etcd.plugins.modules import etcd_user
    from ansible_collections.etcdkit.etcd.plugins.module_utils._auth import ActionFailed
    fake = FakeEtcd()
    fake.faults['/v3/auth/user/add'] = ('before', socket.timeout('timed out'))
    module = user_module(fake)
    with pytest.raises(ActionFailed) as err:
        etcd_user.run(module)
    assert fake.users == {} and 'was not applied' in err.value.message
    assert module.result['changed'] is False


def test_unknown_outcome_is_reported_changed():
    """The answer was lost and the re-read fails too: the failure says it may have been applied, changed=true."""
    from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule
    fake = FakeEtcd()
    fake.faults['/v3/kv/txn'] = ('after', reset())
    fake.faults['/v3/kv/range'] = ('before', socket.timeout('timed out'))
    cl = client(fake, endpoints=('https://10.0.0.1:2379',))
    module = FakeModule()
    with pytest.raises(EtcdError) as err:
        etcd_key.change(module, cl, lambda: cl.put_if_unchanged('/k', 'v', 0), '/k', 'the put of /k',
                        lambda kvs: True)
    assert 'failed too' in err.value.message and err.value.details['may_have_been_applied'] is True
    captured = {}
    fake_module = type('M', (), {'result': dict(changed=False),
                                 'fail_json': lambda self, **kw: captured.update(kw)})()
    EtcdModule.fail_etcd(fake_module, err.value)
    assert captured['changed'] is True and captured['may_have_been_applied'] is True


# ------------------------------------------------------------------------------------------- etcd_restore


def test_restore_that_fails_after_moving_the_old_data_aside_reports_changed(tmp_path, monkeypatch):
    from ansible_collections.etcdkit.etcd.plugins.modules import etcd_restore
    data = tmp_path / 'data'
    (data / 'member').mkdir(parents=True)
    snap = tmp_path / 'snap.db'
    snap.write_bytes(b'x')
    module = FakeModule(dict(snapshot=str(snap), data_dir=str(data), name='m1', initial_cluster=None,
                             initial_cluster_token=None, initial_advertise_peer_urls=None, bump_revision=None,
                             mark_compacted=False, skip_hash_check=False, force=True, etcdutl_path=None,
                             owner=None, group=None))
    module.run_command = lambda argv: (0, '', '')
    monkeypatch.setattr(etcd_restore, 'locate_etcdutl', lambda module, data_dir: '/bin/true')
    monkeypatch.setattr(etcd_restore, 'verify', lambda module, snapshot, params: dict(sha256='0' * 64))
    monkeypatch.setattr(etcd_restore.rs, 'snapshot_status', lambda *a, **k: dict(revision=5, total_keys=1))
    monkeypatch.setattr(etcd_restore.fs, 'open_by_processes', lambda path: [])

    def restore(etcdutl, snapshot, data_dir, params, backup_dir=None, runner=None, prepare=None):
        import os
        os.rename(data_dir, backup_dir)
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(etcd_restore.rs, 'restore', restore)
    with pytest.raises(Failed) as failed:
        etcd_restore.run(module)
    msg, result = failed.value.args
    assert result['changed'] is True and result['backup_dir'] in msg and 'No space left' in msg, failed.value.args
