# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""playbooks/status.yml, defrag.yml and clear-nospace.yml against the real 3-member TLS + auth cluster of
conftest.py: three inventory hosts with a local connection, one per member (etcd_address = the member's address,
etcd_cert_dir = a directory with the role's file names linked to the test PKI)."""

import os
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def _inventory(cluster, tmp_path, textfile_dir):
    pki = tmp_path / 'pki'
    pki.mkdir()
    for name, src in (('ca.crt', cluster.ca_cert), ('gateway.crt', cluster.client_cert),
                      ('gateway.key', cluster.client_key), ('member.crt', cluster.client_cert)):
        os.symlink(str(src), str(pki / name))
    lines = ['[etcd]']
    for i, m in enumerate(cluster.members[:3], 1):
        lines.append('%s ansible_connection=local ansible_python_interpreter=%s etcd_address=%s etcd_member_name=%s '
                     'etcd_data_dir=%s' % (m.name, sys.executable, cluster.ip(i), m.name, m.data_dir))
    lines += ['[etcd:vars]', 'ansible_become=false', 'etcd_cert_dir=%s' % pki, 'etcd_auth_enabled=true',
              'etcd_root_password=%s' % cluster.password, 'etcd_status_textfile_dir=%s' % textfile_dir]
    path = tmp_path / 'hosts.ini'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def _play(inventory, playbook, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'), ANSIBLE_CALLBACK_RESULT_FORMAT='json',
               ANSIBLE_NOCOLOR='1', ANSIBLE_INVENTORY_ENABLED='ini')
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory,
                           os.path.join(REPO, 'playbooks', playbook)] + list(extra), capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300, check=False)


def _recap_changed(proc):
    return [line for line in proc.stdout.splitlines() if 'unreachable=' in line and 'changed=0 ' not in line]


def test_status_defrag_clear_nospace(etcd_cluster, tmp_path):
    textfiles = tmp_path / 'textfiles'
    textfiles.mkdir()
    first = etcd_cluster.members[0].name
    now = time.time()
    (textfiles / 'etcdkit_etcd_backup.prom').write_text(
        '# HELP etcdkit_backup_last_success_timestamp_seconds x\n'
        'etcdkit_backup_last_success_timestamp_seconds{cluster="etcd",member="%s"} %.3f\n'
        'etcdkit_backup_last_revision{cluster="etcd",member="%s"} 4242\n' % (first, now - 7200, first))
    inventory = _inventory(etcd_cluster, tmp_path, textfiles)

    status = _play(inventory, 'status.yml')
    assert status.returncode == 0, status.stdout[-6000:] + status.stderr[-3000:]
    out = status.stdout
    assert 'HEALTHY; leader etcd' in out and 'alarms: none' in out, out[-6000:]
    assert out.count('healthy, etcd %s' % etcd_cluster.version) == 3, out[-6000:]
    assert 'last backup: ' in out and '(2.0 h ago, revision 4242); last proven restore: unknown' in out, out[-6000:]
    assert out.count('last backup: unknown; last proven restore: unknown') == 2, out[-6000:]
    assert out.count('certificate %s/pki/member.crt: expires' % tmp_path) == 3, out[-6000:]
    assert _recap_changed(status) == [], status.stdout[-3000:]

    defrag = _play(inventory, 'defrag.yml', '-e', 'etcd_defrag_force=true')
    assert defrag.returncode == 0, defrag.stdout[-6000:] + defrag.stderr[-3000:]
    assert 'leadership moved from etcd' in defrag.stdout and defrag.stdout.count('): defragmented;') == 3
    again = _play(inventory, 'defrag.yml')
    assert again.returncode == 0 and _recap_changed(again) == [], again.stdout[-4000:]

    clear = _play(inventory, 'clear-nospace.yml')
    assert clear.returncode == 0 and 'no NOSPACE alarm: nothing to do' in clear.stdout, clear.stdout[-4000:]
    assert _recap_changed(clear) == []
