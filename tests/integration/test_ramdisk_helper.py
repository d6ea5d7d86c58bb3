# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The RAM-disk helper (roles/ramdisk/files/etcd_ramdisk) on the real test cluster: TLS, client-cert auth and etcd
auth on. Every etcd call of the helper goes through the collection's core over the JSON gateway with the CN-less
gateway certificate plus user/password from its config (no etcdctl): snapshots with the one sidecar schema, and the
crash rejoin (guarded removal, learner add, temporary etcd, promotion via the leader)."""

import getpass
import grp
import json
import os
import pwd
import sys

import pytest

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._keyspace import member_digests
from ansible_collections.etcdkit.etcd.plugins.module_utils._snapstore import SIDECAR_SCHEMA, scan

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'roles', 'ramdisk', 'files'))

from etcd_ramdisk import cli, member as rmember, node as rnode  # noqa: E402  pylint: disable=wrong-import-position

# flags of the test cluster's etcd command lines that the helper sets itself for the temporary learner
_OVERRIDDEN = ('--data-dir', '--initial-cluster', '--initial-cluster-state')


def _helper(cluster, tmp_path, name='etcd3', **client):
    mem = cluster.member(name)
    argv = list(mem.proc.args)[1:]
    args, i = [], 0
    while i < len(argv):
        if argv[i] in _OVERRIDDEN:
            i += 2
            continue
        args.append(argv[i])
        i += 1
    user = getpass.getuser()
    conn = dict(ca_cert=cluster.ca_cert, client_cert=cluster.client_cert, client_key=cluster.client_key,
                user=cluster.user, password=cluster.password)
    conn.update(client)
    cfg = {
        'unit': 'etcdkit-it-%s.service' % name, 'data_dir': str(mem.data_dir), 'state_dir': str(tmp_path / 'state'),
        'snapshot_dir': str(tmp_path / 'snaps'), 'run_dir': str(tmp_path / 'run'), 'user': user,
        'group': grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name, 'require_tmpfs': False,
        'etcd': str(cluster.bin_dir / 'etcd'), 'etcdutl': str(cluster.bin_dir / 'etcdutl'),
        'member': {'name': name, 'peer_urls': ['https://%s:2380' % mem.ip], 'client_urls': ['https://%s:2379' % mem.ip],
                   'initial_cluster_token': 'etcdkit-it'},
        'etcd_config': {}, 'etcd_args': args,
        'endpoints': dict((m.name, ['https://%s:2379' % m.ip]) for m in cluster.members),
        'cluster_size_min': 3, 'client': conn, 'rejoin_timeout': 90,
        'retention': {'keep_last': 2, 'keep_daily': 0},
    }
    os.makedirs(cfg['state_dir'], exist_ok=True)
    return rnode.Node(cfg)


def test_snapshot_with_the_gateway_certificate_and_user(etcd_cluster, tmp_path):
    etcd_cluster.wait_healthy()
    node = _helper(etcd_cluster, tmp_path)
    state = node.load_state()
    rmember.take_snapshot(node, state)
    entries = scan(node.snap_dir)
    assert len(entries) == 1 and entries[0]['verified']
    side = entries[0]['sidecar']
    assert side['schema'] == SIDECAR_SCHEMA
    assert side['cluster_id'] == state['cluster_id'] == '%016x' % etcd_cluster.client().member_list()['cluster_id']
    assert rnode.read_json(node.path('state.json'))['last_known']['source'] == 'snapshot'
    # the same call with a certificate that carries a CN is refused by etcd's gateway (auth on)
    cn_node = _helper(etcd_cluster, tmp_path / 'cn', client_cert=etcd_cluster.cn_cert, client_key=etcd_cluster.cn_key)
    with pytest.raises(EtcdError, match='CommonName'):
        rmember.take_snapshot(cn_node, cn_node.load_state())


def test_crash_rejoin_as_a_new_member_promoted_via_the_leader(etcd_cluster, tmp_path):
    etcd_cluster.wait_healthy()
    client = etcd_cluster.client()
    for k in range(50):
        client.put('/ramdisk-it/k%02d' % k, 'v%d' % k)
    old = dict((m['name'], m['id']) for m in client.member_list()['members'])
    node = _helper(etcd_cluster, tmp_path)
    mem = etcd_cluster.member('etcd3')
    # a crash: the process is gone and so is its data (the tmpfs); the helper knew the member had started
    etcd_cluster.stop_member('etcd3')
    etcd_cluster.remove_data('etcd3')
    os.makedirs(node.data_dir)
    state = node.load_state()
    state['bootstrapped'] = True
    node.save_state(state)
    assert cli.cmd_prestart(node, None) == 0
    initial = ','.join('%s=https://%s:2380' % (m.name, m.ip) for m in etcd_cluster.members) + \
        ',etcd3=https://%s:2380' % mem.ip
    etcd_cluster.start_member('etcd3', mem.ip, initial)
    etcd_cluster.wait_healthy(timeout=90)
    after = dict((m['name'], m) for m in client.member_list()['members'])
    assert after['etcd3']['id'] != old['etcd3'] and not after['etcd3']['is_learner']
    assert after['etcd1']['id'] == old['etcd1'] and after['etcd2']['id'] == old['etcd2']
    events = [json.loads(line)['event'] for line in open(node.path('events.log'))]
    assert events[-4:] == ['prestart', 'member-remove', 'member-add-learner', 'promoted']
    assert rnode.read_json(node.path('state.json'))['last_start']['action'] == 'rejoin'
    # the rejoined member serves every key and the same key space as the others: the key-space digest read from
    # each member itself at one revision (over the JSON gateway hash_kv is Hash of the whole backend, which may
    # differ legitimately between members)
    digests = list(member_digests(client, etcd_cluster.endpoints)['digests'].values())
    assert len(digests) == 3 and len(set(d['sha256'] for d in digests)) == 1 and digests[0]['count'] >= 50
    got = client.range('/ramdisk-it/', prefix=True, serializable=True, endpoint='https://%s:2379' % mem.ip)
    assert got['count'] == 50
