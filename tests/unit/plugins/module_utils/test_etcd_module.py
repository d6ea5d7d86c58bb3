# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""EtcdModule: the one exit path (result so far + error details on failure) and no logging of name:password."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule, split_user


def execute(run, args, capsys, **kwargs):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            EtcdModule.execute(run, argument_spec=kwargs.pop('argument_spec', {}), **kwargs)
    return exc.value.code, json.loads(capsys.readouterr().out)


def test_success_returns_the_result(capsys):
    def run(module):
        module.result['changed'] = True
        return dict(answer=42)
    rc, out = execute(run, {}, capsys)
    assert rc == 0 and out['changed'] is True and out['answer'] == 42


def test_etcd_error_keeps_partial_result_and_details(capsys):
    def run(module):
        module.result.update(changed=True, order=['etcd2'])
        raise EtcdError('Learner x could not be promoted', kind='precondition', details=dict(learner={'id': 'x'}))
    rc, out = execute(run, {}, capsys)
    assert rc == 1 and out['failed'] and out['msg'] == 'Learner x could not be promoted'
    assert out['changed'] is True and out['order'] == ['etcd2'] and out['learner'] == {'id': 'x'}
    assert out['error']['kind'] == 'precondition'


def test_fail_says_what_to_fix(capsys):
    def run(module):
        module.require_non_negative('wait_timeout')
    rc, out = execute(run, {'wait_timeout': -1}, capsys, argument_spec=dict(wait_timeout=dict(type='float')))
    assert rc == 1 and 'wait_timeout must be >= 0' in out['msg'] and out['changed'] is False


def test_user_with_password_is_never_returned(capsys):
    def run(module):
        return dict(echo='user is %s' % module.params['user'], parts=split_user(module.params['user'], None))
    rc, out = execute(run, {'user': 'root:s3cr3t pw'}, capsys)
    text = json.dumps(out)
    assert rc == 0 and 's3cr3t pw' not in text and 'root' in out['echo']
    assert out['invocation']['module_args']['user'] != 'root:s3cr3t pw'


def test_user_with_password_builds_the_client():
    with patch_module_args({'user': 'root:pw:with:colons', 'endpoints': ['https://a:2379']}):
        module = EtcdModule(argument_spec={})
    client = module.client
    assert client.transport.user == 'root' and client.transport.password == 'pw:with:colons'
    assert 'pw:with:colons' in module.no_log_values


@pytest.mark.parametrize('user, password, expected', [
    ('root', 'pw', ('root', 'pw')), ('root:pw', None, ('root', 'pw')), ('root:pw', 'other', ('root:pw', 'other')),
    (None, None, (None, None)), ('root:', None, ('root', '')),
])
def test_split_user(user, password, expected):
    assert split_user(user, password) == expected
