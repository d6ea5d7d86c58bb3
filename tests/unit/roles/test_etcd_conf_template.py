# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""roles/etcd/templates/etcd.conf.yml.j2 rendered per etcd version (a table), with the role's own defaults and
vars, through Ansible's templating.

etcd 3.6 (from etcd's "Upgrade etcd from v3.5 to v3.6" guide) removed the v2 and proxy flags, renamed the
experimental flags (deprecated, to be removed in 3.7) and turned six experimental flags into feature gates. A 3.6
config must carry none of the removed keys and the new names only; a 3.4/3.5 config keeps the names those
versions know. No 3.6 binary exists here: these cases check the rendered file against the guide's tables, not
against a running 3.6 (docs/upgrade.md says which versions were run here)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'etcd')

# from the upgrade guide, written out here on purpose (not read from vars/main.yml): the test must be able to fail
# when the role's tables are wrong
REMOVED_36 = {'enable-v2', 'experimental-enable-v2v3', 'proxy', 'proxy-failure-wait', 'proxy-refresh-interval',
              'proxy-dial-timeout', 'proxy-write-timeout', 'proxy-read-timeout'}
EXPERIMENTAL_36 = {
    'experimental-compaction-batch-limit': 'compaction-batch-limit',
    'experimental-max-learners': 'max-learners',
    'experimental-corrupt-check-time': 'corrupt-check-time',
    'experimental-watch-progress-notify-interval': 'watch-progress-notify-interval',
    'experimental-snapshot-catchup-entries': 'snapshot-catchup-entries',
}
GATES_36 = {'experimental-initial-corrupt-check': 'InitialCorruptCheck',
            'experimental-compact-hash-check-enabled': 'CompactHashCheck',
            'experimental-stop-grpc-service-on-defrag': 'StopGRPCServiceOnDefrag'}


def render(version, extra=None, **overrides):
    loader = DataLoader()
    variables = {}
    for name in ('defaults', 'vars'):
        variables.update(loader.load_from_file(os.path.join(ROLE, name, 'main.yml'), trusted_as_template=True))
    variables.update(inventory_hostname='m1', ip='10.0.0.1', groups={'etcd': ['m1']}, ansible_play_hosts_all=['m1'],
                     _etcd_initial={'cluster': 'm1=https://10.0.0.1:2380', 'state': 'new', 'token': 'etcd'},
                     etcd_version=version, etcd_extra_config=extra or {})
    variables.update(overrides)
    with open(os.path.join(ROLE, 'templates', 'etcd.conf.yml.j2')) as f:
        text = f.read()
    return yaml.safe_load(Templar(loader=loader, variables=variables).template(trust_as_template(text)))


EXTRA = {
    'experimental-compaction-batch-limit': 500,
    'experimental-max-learners': 2,
    'experimental-initial-corrupt-check': True,
    'experimental-stop-grpc-service-on-defrag': False,
    'experimental-watch-progress-notify-interval': '5s',
}

# (version, tested here on a real binary: see docs/upgrade.md)
VERSIONS = [('3.4.23', True), ('3.5.1', True), ('3.5.16', True), ('3.5.30', True), ('3.5.33', False),
            ('3.6.0', False), ('3.6.5', False), ('3.7.0', False)]


@pytest.mark.parametrize('version,ran_here', VERSIONS, ids=[v[0] for v in VERSIONS])
def test_default_config_per_version(version, ran_here):
    conf = render(version)
    assert conf['name'] == 'm1' and conf['data-dir'] == '/var/lib/etcd'
    assert conf['client-transport-security']['client-cert-auth'] is True
    # etcd 3.4 with a config file leaves the JSON gateway off unless asked (seen with the 3.4.23 fixture: 404)
    assert conf.get('enable-grpc-gateway') is (True if version.startswith('3.4.') else None)
    if version.startswith(('3.4.', '3.5.')):
        assert conf['enable-v2'] is False  # 3.4/3.5 serve no v2 API from this role
        assert not any(k.startswith('feature-gates') for k in conf)
    else:
        assert not REMOVED_36 & set(conf), sorted(REMOVED_36 & set(conf))
        assert 'feature-gates' not in conf  # nothing asked for one


@pytest.mark.parametrize('version,ran_here', VERSIONS, ids=[v[0] for v in VERSIONS])
def test_experimental_keys_per_version(version, ran_here):
    conf = render(version, dict(EXTRA))
    if version.startswith(('3.4.', '3.5.')):
        for key, value in EXTRA.items():
            assert conf[key] == value, key
        assert 'feature-gates' not in conf and 'max-learners' not in conf
    else:
        assert not [k for k in conf if k.startswith('experimental-')], sorted(conf)
        assert conf['compaction-batch-limit'] == 500 and conf['max-learners'] == 2
        assert conf['watch-progress-notify-interval'] == '5s'
        assert sorted(conf['feature-gates'].split(',')) == ['InitialCorruptCheck=true', 'StopGRPCServiceOnDefrag=false']


@pytest.mark.parametrize('version,key,value,expected', [
    # new (3.6) names given for a 3.5 target are written under the experimental names 3.5 knows
    ('3.5.30', 'compaction-batch-limit', 100, {'experimental-compaction-batch-limit': 100}),
    ('3.5.30', 'max-learners', 3, {'experimental-max-learners': 3}),
    ('3.6.5', 'compaction-batch-limit', 100, {'compaction-batch-limit': 100}),
    # enable-v2 false is dropped for 3.6 (the flag does not exist any more)
    ('3.6.5', 'enable-v2', False, {}),
    ('3.6.5', 'experimental-enable-v2v3', '', {}),
    # a feature-gates value of the user's is kept and the converted gates appended
    ('3.6.5', 'feature-gates', 'LeaseCheckpoint=true', {'feature-gates': 'LeaseCheckpoint=true'}),
])
def test_single_keys(version, key, value, expected):
    conf = render(version, {key: value})
    for k, v in expected.items():
        assert conf[k] == v
    if not expected:
        assert key not in conf


def test_user_gates_and_converted_gates_are_joined():
    conf = render('3.6.5', {'feature-gates': 'LeaseCheckpoint=true', 'experimental-initial-corrupt-check': True})
    assert conf['feature-gates'] == 'LeaseCheckpoint=true,InitialCorruptCheck=true'


def test_role_tables_match_the_guide():
    loader = DataLoader()
    v = loader.load_from_file(os.path.join(ROLE, 'vars', 'main.yml'))
    assert set(v['_etcd_conf_removed_36']) == REMOVED_36
    for old, new in EXPERIMENTAL_36.items():
        assert v['_etcd_conf_renamed_36'][old] == new
    for old, gate in GATES_36.items():
        assert v['_etcd_conf_feature_gates_36'][old] == gate
    assert len(v['_etcd_conf_renamed_36']) == 18 and len(v['_etcd_conf_feature_gates_36']) == 6
