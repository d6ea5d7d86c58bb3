# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The playbooks' target group (playbooks/target.yml): ONE variable, etcd_group, chooses it; a missing or empty
group and the storage product's variable names fail the run instead of a play that matches no host (rc 0).

These run ansible-playbook for real against inventories whose hosts do not exist: the checks run on the
controller before any connection, and the one case that passes the checks shows the play reaching the host
(unreachable)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
# a loopback address nothing listens on (port 1): a connection attempt fails at once
HOST = 'ansible_host=127.0.0.1 ansible_port=1 ansible_user=nobody ansible_ssh_common_args="-o ConnectTimeout=2"'
STORAGE_VARS = '''
[all:vars]
etcd_port_client=12379
etcd_port_peers=12380
etcd_quota_bytes=8589934592
installation_dir=/var/lib/storageos-etcd
members="{{ groups['nodes'] }}"
'''


def play(tmp_path, inventory, *extra, playbook='site.yml'):
    inv = tmp_path / 'hosts.ini'
    inv.write_text(inventory)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_HOST_KEY_CHECKING='False',
               ANSIBLE_RETRY_FILES_ENABLED='False', ANSIBLE_NOCOLOR='1')
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inv),
            os.path.join(ROOT, 'playbooks', playbook)] + list(extra)
    proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                          universal_newlines=True, timeout=120)
    return proc.returncode, ' '.join(proc.stdout.split())


@pytest.mark.parametrize('playbook', ['site.yml', 'remove_member.yml', 'ramdisk.yml', 'loadtest.yml', 'backup.yml',
                                      'drill.yml', 'defrag.yml', 'status.yml', 'upgrade.yml', 'rotate-certs.yml',
                                      'uninstall.yml', 'clear-nospace.yml'])
def test_missing_group_fails_loudly(tmp_path, playbook):
    rc, out = play(tmp_path, '[nodes]\nn1 %s\n' % HOST, playbook=playbook)
    assert rc != 0, out
    assert "inventory group 'etcd' does not exist" in out and 'nodes' in out and 'etcd_group' in out, out


@pytest.mark.parametrize('tags', [['--tags', 'etcd_configure'], ['--tags', 'etcd_preflight']])
def test_missing_group_fails_with_tags_too(tmp_path, tags):
    rc, out = play(tmp_path, '[nodes]\nn1 %s\n' % HOST, *tags)
    assert rc != 0 and "inventory group 'etcd' does not exist" in out, out


def test_group_with_tags_reaches_the_hosts(tmp_path):
    rc, out = play(tmp_path, '[nodes]\nn1 %s\n' % HOST, '-e', 'etcd_group=nodes', '--tags', 'etcd_configure')
    assert rc == 4 and 'UNREACHABLE' in out and 'PLAY [Etcd cluster]' in out, out


def test_group_in_inventory_vars_is_enough(tmp_path):
    """etcd_group in group_vars/all (no -e) chooses the play's hosts too: the play reaches n1."""
    rc, out = play(tmp_path, '[all:vars]\netcd_group=nodes\n[nodes]\nn1 %s\n' % HOST)
    assert rc == 4 and 'UNREACHABLE' in out and 'n1' in out, out
    assert 'PLAY [Etcd cluster]' in out


def test_group_from_extra_vars(tmp_path):
    rc, out = play(tmp_path, '[nodes]\nn1 %s\n' % HOST, '-e', 'etcd_group=nodes')
    assert rc == 4 and 'UNREACHABLE' in out and 'PLAY [Etcd cluster]' in out, out


def test_empty_group_fails(tmp_path):
    rc, out = play(tmp_path, '[nodes]\n[other]\nn1 %s\n' % HOST, '-e', 'etcd_group=nodes')
    assert rc != 0 and "inventory group 'nodes' has no host" in out, out


def test_old_etcd_target_must_agree(tmp_path):
    rc, out = play(tmp_path, '[nodes]\nn1 %s\n' % HOST, '-e', 'etcd_group=nodes', '-e', 'etcd_target=etcd')
    assert rc != 0 and 'etcd_target (etcd) is no longer used' in out and '-e etcd_group=etcd' in out, out


@pytest.mark.parametrize('extra', [[], ['-e', 'etcd_group=nodes']])
def test_storage_product_variables_fail_with_the_mapping(tmp_path, extra):
    rc, out = play(tmp_path, '[nodes]\nn1 %s\nn2 %s\n' % (HOST, HOST) + STORAGE_VARS, *extra)
    assert rc != 0 and 'UNREACHABLE' not in out, out
    for words in ['etcd_port_client (set on n1, n2) -> use etcd_client_port', 'etcd_port_peers',
                  '-> use etcd_peer_port', 'etcd_quota_bytes', '-> use etcd_quota_backend_bytes',
                  'installation_dir', 'etcd_data_dir', 'members', 'etcd_group', 'etcd_preflight_ignore_vars']:
        assert words in out, (words, out)


def test_ignored_storage_variable_is_not_reported(tmp_path):
    rc, out = play(tmp_path, '[nodes]\nn1 %s\n' % HOST + STORAGE_VARS, '-e', 'etcd_group=nodes',
                   '-e', '{"etcd_preflight_ignore_vars": ["members", "installation_dir"]}')
    assert rc != 0 and 'etcd_port_client (set on n1)' in out, out
    assert 'members (set on' not in out and 'installation_dir (set on' not in out, out


def test_recap_names_only_the_group(tmp_path):
    """The group check runs once as the play's first host: with -e etcd_group, a host of the group, so a host
    outside it (e.g. a member removed but still in the inventory, listed first) gets no line in the recap."""
    rc, out = play(tmp_path, '[old]\ngone %s\n[nodes]\nn1 %s\n' % (HOST, HOST), '-e', 'etcd_group=nodes',
                   '--tags', 'etcd_configure')
    assert rc == 4 and 'PLAY [Etcd cluster]' in out, out
    recap = out.rsplit('PLAY RECAP', maxsplit=1)[-1]
    assert 'n1 :' in recap and 'gone' not in recap, recap
