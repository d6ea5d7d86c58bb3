# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""playbooks/monitoring.yml renders, for an inventory with two co-located clusters and a third https one
(tests/unit/monitoring/inventory.yml), a Prometheus configuration and rules that promtool accepts, rules whose
promtool unit tests (rules_test.yml) fire and clear the main alerts, a dashboard whose every query parses, and
Kubernetes manifests valid against the Kubernetes schemas (kubernetes-validate). The rendering runs once (module
fixture); nothing connects to the inventory's hosts."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
_COLLECTIONS = os.path.join(ROOT, '.collections')
try:
    import ansible_collections.etcdkit.etcd  # noqa: F401  pylint: disable=unused-import
except ImportError:
    sys.path.insert(0, _COLLECTIONS)
from ansible_collections.etcdkit.etcd.plugins.module_utils import _defrag_rules  # noqa: E402

K8S_VERSION = '1.30'
CLUSTERS = [
    {'group': 'etcd', 'tls_local_dir': None},  # filled in with a directory holding a client certificate
    {'group': 'etcd', 'vars': {'etcd_cluster_name': 'storageos-etcd', 'etcd_client_port': 12379,
                               'etcd_metrics_port': 12381}},
    {'group': 'lab'},
]


def _promtool():
    path = shutil.which('promtool')
    if not path:
        pytest.fail('promtool is missing: run tests/deps.sh (installs Debian\'s prometheus package)')
    return path


def _run(argv, **kw):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    assert proc.returncode == 0, '%s failed:\n%s\n%s' % (' '.join(argv), proc.stdout[-4000:], proc.stderr[-4000:])
    return proc.stdout


@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
    base = tmp_path_factory.mktemp('monitoring')
    out = base / 'out'
    # the https cluster: promtool checks that the scrape TLS files exist
    tls = base / 'prometheus-tls'
    (tls / 'lab.one').mkdir(parents=True)
    for name in ('ca.crt', 'client.crt', 'client.key'):
        (tls / 'lab.one' / name).write_text('placeholder\n')
    # controller PKI of cluster etcd with an application certificate (etcd_clients entry "storage")
    pki = base / 'pki-etcd'
    pki.mkdir()
    for name in ('ca.crt', 'client-storage.crt', 'client-storage.key'):
        (pki / name).write_text('-----BEGIN %s-----\nAAAA\n-----END %s-----\n' % (name, name))
    clusters = [dict(c) for c in CLUSTERS]
    clusters[0]['tls_local_dir'] = str(pki)
    extra = {'monitoring_output_dir': str(out), 'monitoring_prometheus_tls_dir': str(tls),
             'monitoring_clusters': clusters, 'monitoring_k8s_client': 'storage'}
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
    _run(['ansible-playbook', '-i', os.path.join(HERE, 'inventory.yml'), os.path.join(ROOT, 'playbooks', 'monitoring.yml'),
          '--skip-tags', 'monitoring_certs', '-e', json.dumps(extra)], cwd=ROOT, env=env)
    return out


def _load(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def test_promtool_check_config_and_rules(rendered):
    out = _run([_promtool(), 'check', 'config', str(rendered / 'prometheus' / 'prometheus.yml')])
    assert 'SUCCESS' in out
    out = _run([_promtool(), 'check', 'rules', str(rendered / 'prometheus' / 'etcdkit-rules.yml')])
    assert 'SUCCESS: 19 rules found' in out


def test_promtool_rule_unit_tests(rendered):
    shutil.copy(os.path.join(HERE, 'rules_test.yml'), str(rendered / 'prometheus' / 'rules_test.yml'))
    _run([_promtool(), 'test', 'rules', str(rendered / 'prometheus' / 'rules_test.yml')])


def test_every_alert_has_a_runbook_naming_a_playbook(rendered):
    rules = [r for g in _load(rendered / 'prometheus' / 'etcdkit-rules.yml')['groups'] for r in g['rules'] if 'alert' in r]
    names = {r['alert'] for r in rules}
    assert names == {'EtcdMemberDown', 'EtcdNoLeader', 'EtcdQuorumAtRisk', 'EtcdFrequentLeaderChanges',
                     'EtcdFailedProposals', 'EtcdWalFsyncSlow', 'EtcdBackendCommitSlow', 'EtcdClientLatencyHigh',
                     'EtcdDatabaseQuotaHigh', 'EtcdDefragNeeded', 'EtcdAlarmActive', 'EtcdBackupTooOld',
                     'EtcdRestoreDrillTooOld', 'EtcdRestoreDrillFailed', 'EtcdCertificateExpiresSoon'}
    for rule in rules:
        assert 'playbooks/' in rule['annotations']['runbook'], rule['alert']
        assert 'cluster' in rule['annotations']['summary'], rule['alert']


def test_colocated_clusters_get_their_own_job_and_labels(rendered):
    conf = _load(rendered / 'prometheus' / 'prometheus.yml')
    jobs = {j['job_name']: j for j in conf['scrape_configs']}
    assert set(jobs) == {'etcd', 'storageos-etcd', 'lab.one', 'etcdkit-nodes'}
    seen = set()
    for name in ('etcd', 'storageos-etcd', 'lab.one'):
        for sc in jobs[name]['static_configs']:
            assert sc['labels']['cluster'] == name
            for target in sc['targets']:
                assert target not in seen
                seen.add(target)
    assert {t for sc in jobs['etcd']['static_configs'] for t in sc['targets']} == {
        '10.20.0.1:2381', '10.20.0.2:2381', '10.20.0.3:2381'}
    assert {t for sc in jobs['storageos-etcd']['static_configs'] for t in sc['targets']} == {
        '10.20.0.1:12381', '10.20.0.2:12381', '10.20.0.3:12381'}
    assert jobs['lab.one']['scheme'] == 'https' and jobs['etcd']['scheme'] == 'http'
    assert jobs['etcdkit-nodes']['static_configs'][0]['targets'] == [
        '10.20.0.1:9100', '10.20.0.2:9100', '10.20.0.3:9100', '10.20.1.1:9100']
    # every rule aggregates by (or keeps) the cluster label
    for group in _load(rendered / 'prometheus' / 'etcdkit-rules.yml')['groups']:
        for rule in group['rules']:
            expr = rule['expr']
            assert ('job=~"etcd|storageos-etcd|lab\\\\.one"' in expr or 'cluster=~"etcd|storageos-etcd|lab\\\\.one"' in expr
                    or rule.get('record') == 'etcdkit:etcd_defrag_needed' and 'job="%s"' % rule['labels']['cluster'] in expr), expr
            assert ' by (' not in expr or 'cluster' in expr.split(' by (', 1)[1].split(')', 1)[0], expr


def test_defrag_thresholds_are_the_defrag_rules_defaults(rendered):
    with open(os.path.join(ROOT, 'roles', 'monitoring', 'defaults', 'main.yml'), encoding='utf-8') as f:
        defaults = yaml.safe_load(f)
    want = {k: v for k, v in _defrag_rules.DEFAULT_RULE.items() if k != 'quota_bytes'}
    assert defaults['monitoring_defrag_rule'] == want
    records = {}
    for rule in _load(rendered / 'prometheus' / 'etcdkit-rules.yml')['groups'][0]['rules']:
        if rule.get('record') == 'etcdkit:etcd_defrag_needed':
            job = rule['expr'].split('job="', 1)[1].split('"', 1)[0]
            records[job] = rule['expr']
    assert set(records) == {'etcd', 'storageos-etcd', 'lab.one'}
    for job, expr in records.items():
        ratio = 0.3 if job == 'lab.one' else want['min_free_ratio']  # lab sets etcd_defrag_min_free_ratio
        assert '>= %s\n' % ratio in expr or '>= %s\n' % ratio in expr.replace(')', '\n'), expr
        for key in ('min_free_bytes', 'free_bytes_trigger', 'quota_usage_ratio'):
            assert '>= %s' % want[key] in expr, (key, expr)


def test_dashboard_queries_parse(rendered, tmp_path):
    dash = json.loads((rendered / 'grafana' / 'etcdkit-etcd.json').read_text())
    exprs = [t['expr'] for p in dash['panels'] for t in p['targets']]
    assert len(exprs) >= 15
    titles = [p['title'] for p in dash['panels']]
    assert any('defrag' in t for t in titles)
    rules = {'groups': [{'name': 'dashboard', 'rules': [
        {'record': 'dashboard:q%d' % i, 'expr': e.replace('$__rate_interval', '5m').replace('$cluster', '.+')}
        for i, e in enumerate(exprs)]}]}
    path = tmp_path / 'dashboard-rules.yml'
    path.write_text(yaml.safe_dump(rules))
    _run([_promtool(), 'check', 'rules', str(path)])


def test_kubernetes_manifests_validate(rendered):
    import kubernetes_validate  # pylint: disable=import-outside-toplevel

    kinds = {}
    for name in ('etcd', 'storageos-etcd', 'lab.one'):
        with open(str(rendered / 'kubernetes' / ('%s.yml' % name)), encoding='utf-8') as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        kinds[name] = {d['kind']: d for d in docs}
    etcd = kinds['etcd']
    assert set(etcd) == {'Service', 'EndpointSlice', 'Secret'}
    assert set(kinds['storageos-etcd']) == {'Service', 'EndpointSlice'}  # no client certificate found for it
    svc, eps = etcd['Service'], etcd['EndpointSlice']
    assert 'selector' not in svc['spec']
    assert eps['metadata']['labels']['kubernetes.io/service-name'] == svc['metadata']['name'] == 'etcd-client'
    assert [p['name'] for p in eps['ports']] == [p['name'] for p in svc['spec']['ports']] == ['client', 'metrics']
    assert [a for e in eps['endpoints'] for a in e['addresses']] == ['10.20.0.1', '10.20.0.2', '10.20.0.3']
    assert kinds['storageos-etcd']['Service']['spec']['ports'][0]['port'] == 12379
    assert kinds['lab.one']['Service']['metadata']['name'] == 'lab-one-client'
    secret = etcd['Secret']
    assert secret['type'] == 'kubernetes.io/tls' and set(secret['data']) == {'ca.crt', 'tls.crt', 'tls.key'}
    assert oct(os.stat(str(rendered / 'kubernetes' / 'etcd.yml')).st_mode & 0o777) == '0o600'
    assert (rendered / 'kubernetes' / 'storageos-etcd-kvbackend-address.txt').read_text() == \
        '10.20.0.1:12379,10.20.0.2:12379,10.20.0.3:12379\n'


@pytest.mark.parametrize('second, words', [
    ({'group': 'etcd', 'vars': {'etcd_cluster_name': 'storageos-etcd'}},
     ['share a metrics address:port', '10.20.0.1:2381']),
    ({'group': 'etcd', 'vars': {'etcd_metrics_port': 12381}}, ['same etcd_cluster_name']),
])
def test_colliding_clusters_are_refused(tmp_path, second, words):
    extra = {'monitoring_output_dir': str(tmp_path / 'out'), 'monitoring_clusters': [{'group': 'etcd'}, second]}
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
    proc = subprocess.run(['ansible-playbook', '-i', os.path.join(HERE, 'inventory.yml'),
                           os.path.join(ROOT, 'playbooks', 'monitoring.yml'), '--skip-tags', 'monitoring_certs',
                           '-e', json.dumps(extra)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    for word in words:
        assert word in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert not (tmp_path / 'out').exists()  # nothing rendered
