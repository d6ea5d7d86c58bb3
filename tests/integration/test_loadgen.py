# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The load generator (roles/loadtest/files/etcdkit_loadgen.py) against the real TLS + auth test cluster."""

import json
import os
import subprocess
import sys
from pathlib import Path

LOADGEN = Path(__file__).resolve().parents[2] / 'roles' / 'loadtest' / 'files' / 'etcdkit_loadgen.py'


def loadgen(cluster, *args, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    cmd = [sys.executable, str(LOADGEN), '--endpoints', ','.join(cluster.endpoints), '--cacert', cluster.ca_cert,
           '--progress', 'never'] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout, check=False)


def count_keys(cluster, prefix):
    return int(cluster.etcdctl_json('get', '--prefix', '--keys-only', prefix).get('count', 0))


def test_user_password_and_cert_without_cn_mixed_load_then_cleanup(etcd_cluster):
    prefix = '/it-loadgen-a/'
    r = loadgen(etcd_cluster, '--cert', etcd_cluster.client_cert, '--key', etcd_cluster.client_key,
                '--user', etcd_cluster.user, '--count', '600', '--duration', '60', '--clients', '12',
                '--read-ratio', '0.3', '--prefix', prefix, '--json', env={'ETCDKIT_LOADGEN_PASSWORD':
                                                                          etcd_cluster.password})
    assert r.returncode == 0, r.stderr + r.stdout
    rep = json.loads(r.stdout)
    assert rep['failed'] == 0 and rep['errors'] == {}
    ack = rep['acknowledged']
    assert ack['total'] == 600 and ack['writes'] > 0 and ack['reads'] > 0
    assert rep['cleanup'] == {'prefix': prefix, 'deleted': ack['writes']}
    assert count_keys(etcd_cluster, prefix) == 0
    w = rep['latency']['write']
    assert w['count'] == ack['writes'] and 0 < w['p50_ms'] <= w['p90_ms'] <= w['p99_ms'] <= w['max_ms']
    assert len(rep['members_before']) == 3 and all('db_size' in m for m in rep['members_after'].values())
    assert etcd_cluster.password not in r.stdout + r.stderr


def test_client_cert_cn_root_keeps_keys_with_no_cleanup_and_caps_by_count(etcd_cluster):
    prefix = '/it-loadgen-b/'
    r = loadgen(etcd_cluster, '--cert', etcd_cluster.cn_cert, '--key', etcd_cluster.cn_key, '--count', '250',
                '--duration', '60', '--clients', '40', '--key-size', '64', '--value-size', '1000', '--prefix',
                prefix, '--no-cleanup', '--json')
    try:
        assert r.returncode == 0, r.stderr + r.stdout
        rep = json.loads(r.stdout)
        assert rep['acknowledged']['writes'] == 250 and rep['cleanup'] is None
        assert count_keys(etcd_cluster, prefix) == 250
        kv = etcd_cluster.etcdctl_json('get', '--prefix', '--limit', '1', prefix)['kvs'][0]
        import base64
        assert len(base64.b64decode(kv['key'])) == 64 and len(base64.b64decode(kv['value'])) == 1000
    finally:
        etcd_cluster.etcdctl('del', '--prefix', prefix)


def test_fixed_rate_is_capped_by_duration(etcd_cluster):
    r = loadgen(etcd_cluster, '--cert', etcd_cluster.cn_cert, '--key', etcd_cluster.cn_key, '--count', '100000',
                '--duration', '3', '--rate', '50', '--clients', '20', '--prefix', '/it-loadgen-c/', '--json')
    assert r.returncode == 0, r.stderr + r.stdout
    rep = json.loads(r.stdout)
    # 50/s for 3 s: at most 151 writes (slots at 0, 0.02, ... 3.0 s), nowhere near the count cap; fewer only when
    # every client was busy at a slot (a late slot is not made up for), so allow for a loaded machine
    assert 120 <= rep['acknowledged']['writes'] <= 151, rep['acknowledged']
    assert rep['wall_s'] < 3 + 2


def test_wrong_password_and_refused_endpoint_fail_cleanly(etcd_cluster):
    r = loadgen(etcd_cluster, '--cert', etcd_cluster.client_cert, '--key', etcd_cluster.client_key, '--user',
                'root', '--count', '10', '--duration', '5', env={'ETCDKIT_LOADGEN_PASSWORD': 'wrong'})
    assert r.returncode == 2 and 'authentication' in r.stderr and 'Traceback' not in r.stderr
    r = subprocess.run([sys.executable, str(LOADGEN), '--endpoints', 'https://192.0.2.1:2379', '--cacert',
                        etcd_cluster.ca_cert, '--count', '10', '--duration', '5'], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 2 and 'neither loopback nor an inventory address' in r.stderr


def run_playbook(cluster, tmp_path, inventory_vars, extra_vars):
    hosts = '\n'.join('etcd%d ansible_host=%s ansible_connection=local' % (i + 1, m.ip)
                      for i, m in enumerate(cluster.members[:3]))
    inv = tmp_path / 'hosts.ini'
    inv.write_text('[etcd]\n%s\n\n[etcd:vars]\n%s\n' % (hosts, '\n'.join('%s=%s' % kv for kv in inventory_vars.items())))
    env = dict(os.environ, ANSIBLE_CONFIG=str(LOADGEN.parents[3] / 'ansible.cfg'), ANSIBLE_STDOUT_CALLBACK='json',
               ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    cmd = ['ansible-playbook', '-i', str(inv), str(LOADGEN.parents[3] / 'playbooks' / 'loadtest.yml'),
           '-e', json.dumps(extra_vars)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=str(LOADGEN.parents[3]),
                          check=False)


def test_playbook_loads_the_inventory_members_with_the_etcd_role_tls_files(etcd_cluster, tmp_path):
    report = tmp_path / 'report.json'
    r = run_playbook(etcd_cluster, tmp_path, {
        'etcd_tls_ca_cert_file': etcd_cluster.ca_cert, 'etcd_tls_admin_cert_file': etcd_cluster.cn_cert,
        'etcd_tls_admin_key_file': etcd_cluster.cn_key}, {
        'loadtest_count': 300, 'loadtest_duration': 60, 'loadtest_clients': 9, 'loadtest_read_ratio': 0.2,
        'loadtest_prefix': '/it-loadgen-pb/', 'loadtest_report_file': str(report)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    rep = json.loads(report.read_text())
    assert rep['acknowledged']['total'] == 300 and rep['failed'] == 0
    assert sorted(rep['members_before']) == sorted('%s:2379' % m.ip for m in etcd_cluster.members[:3])
    assert rep['cleanup']['deleted'] == rep['acknowledged']['writes']
    assert count_keys(etcd_cluster, '/it-loadgen-pb/') == 0


def test_playbook_user_password_is_not_logged_and_foreign_endpoint_refused(etcd_cluster, tmp_path):
    r = run_playbook(etcd_cluster, tmp_path, {
        'etcd_tls_ca_cert_file': etcd_cluster.ca_cert, 'etcd_tls_admin_cert_file': etcd_cluster.client_cert,
        'etcd_tls_admin_key_file': etcd_cluster.client_key}, {
        'loadtest_count': 50, 'loadtest_duration': 30, 'loadtest_user': 'root',
        'loadtest_password': etcd_cluster.password, 'loadtest_prefix': '/it-loadgen-pw/'})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert etcd_cluster.password not in r.stdout + r.stderr
    r = run_playbook(etcd_cluster, tmp_path, {'etcd_tls_ca_cert_file': etcd_cluster.ca_cert}, {
        'loadtest_count': 10, 'loadtest_duration': 5, 'loadtest_endpoints': ['https://192.0.2.7:2379']})
    assert r.returncode != 0 and 'neither loopback nor an inventory address' in r.stdout


def test_sigterm_ends_the_run_early_with_a_complete_report(etcd_cluster):
    import signal
    import time
    prefix = '/it-loadgen-term/'
    cmd = [sys.executable, str(LOADGEN), '--endpoints', ','.join(etcd_cluster.endpoints), '--cacert',
           etcd_cluster.ca_cert, '--cert', etcd_cluster.cn_cert, '--key', etcd_cluster.cn_key, '--progress', 'never',
           '--count', '100000', '--duration', '60', '--rate', '100', '--clients', '4', '--prefix', prefix, '--json']
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 15, 'SIGTERM did not end the run soon'
    assert proc.returncode == 0, err + out
    rep = json.loads(out)
    assert rep['stopped_early'] is True and rep['failed'] == 0
    assert 0 < rep['acknowledged']['writes'] < 100000 and rep['wall_s'] < 30
    assert rep['cleanup'] == {'prefix': prefix, 'deleted': rep['acknowledged']['writes']}
    assert count_keys(etcd_cluster, prefix) == 0


def test_wait_for_ready_rides_through_a_rolling_restart_and_stop_file_ends_the_run(etcd_cluster, tmp_path):
    """Every member restarted once (SIGTERM, start again), one at a time, under a fixed-rate write load: with
    --wait-for-ready a request on the connection of the restarting member waits for the reconnect, so no request
    fails (without it, about a third of the requests fail while a member is down); --stop-file ends the run before
    --duration; every acknowledged key is there."""
    import time
    prefix = '/it-loadgen-roll/'
    stop = tmp_path / 'stop'
    cmd = [sys.executable, str(LOADGEN), '--endpoints', ','.join(etcd_cluster.endpoints), '--cacert',
           etcd_cluster.ca_cert, '--cert', etcd_cluster.cn_cert, '--key', etcd_cluster.cn_key, '--progress', 'never',
           '--count', '100000', '--duration', '120', '--clients', '6', '--rate', '40', '--timeout', '20',
           '--wait-for-ready', '--no-cleanup', '--prefix', prefix, '--stop-file', str(stop), '--json']
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    try:
        time.sleep(1.5)
        initial = ','.join('etcd%d=https://%s:2380' % (i, etcd_cluster.ip(i)) for i in (1, 2, 3))
        for i in (1, 2, 3):
            etcd_cluster.stop_member('etcd%d' % i)
            etcd_cluster.start_member('etcd%d' % i, etcd_cluster.ip(i), initial, state='existing')
            etcd_cluster.wait_healthy()
        time.sleep(1)
        stop.touch()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    try:
        assert proc.returncode == 0, err + out
        rep = json.loads(out)
        assert rep['failed'] == 0 and rep['errors'] == {}, rep['errors']
        assert rep['stopped_by_stop_file'] is True and time.monotonic() - t0 < 100
        assert rep['acknowledged']['writes'] > 40
        assert count_keys(etcd_cluster, prefix) == rep['acknowledged']['writes']
    finally:
        etcd_cluster.etcdctl('del', '--prefix', prefix)
