# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Integration test fixtures: a real 3-member etcd cluster (TLS + client-cert auth + etcd auth) on loopback.

Reusable by every module's integration tests. Summary:

``etcd_cluster`` (session scope) -> ``EtcdTestCluster``
    Starts the newest etcd fixture (``$ETCDKIT_CACHE/artifacts/NEWEST``, built by ``make artifacts``; env
    ``ETCDKIT_IT_ETCD_VERSION`` picks another built fixture, e.g. ``3.5.1``) as ``etcd1..etcd3`` on
    ``$ETCDKIT_IT_NET.1..3`` (env ``ETCDKIT_IT_NET``, default ``127.0.20``), client port 2379, peer port 2380,
    TLS for clients and peers with ``--client-cert-auth``/``--peer-client-cert-auth``, and etcd auth enabled
    (user ``root`` with the root role). Always stopped and its temp dir removed at session end, also on
    failure/interrupt (finalizer + atexit + PR_SET_PDEATHSIG, and leftover pids from a crashed earlier run are
    killed by pid at start). Attributes and helpers:

    - ``endpoints``: ``['https://127.0.20.1:2379', ...]``; ``members``: list of ``EtcdProcess`` (``name, ip,
      client_url, peer_url, data_dir, log, proc``); ``member(name)``.
    - ``ca_cert``; ``client_cert``/``client_key``: gateway client certificate WITHOUT CommonName (SAN only) - the
      JSON gateway answers HTTP 400 to a certificate with CN when etcd auth is on; ``cn_cert``/``cn_key``: a client
      certificate with ``CN=root`` (fine for etcdctl/gRPC, rejected by the gateway);
      ``bad_ca_cert``/``bad_client_cert``/``bad_client_key``: an unrelated CA and a client cert signed by it.
    - ``user`` (``root``), ``password``.
    - ``connection``: dict of the ``etcdkit.etcd.connection`` module options for this cluster
      (endpoints, ca_cert, client_cert, client_key, user, password). Use ``dict(etcd_cluster.connection, ...)``.
    - ``base_dir``: the session temp dir (removed at the end); ``tmp_path_factory`` is fine for per-test files.
    - ``client(**overrides)`` -> ``EtcdClient`` (the collection's own client) with the connection options.
    - ``etcdctl(*args, check=True)`` -> ``CompletedProcess`` (text) using the cluster's TLS and root user;
      ``etcdctl_json(*args)`` -> parsed ``-w json`` output.
    - ``start_member(name, ip, initial_cluster, state='existing')`` -> ``EtcdProcess`` (e.g. a 4th member on
      ``$NET.4`` joining as a learner); ``stop_member(name)`` (SIGTERM, wait, forget; data dir kept);
      ``remove_data(name)``.
    - ``wait_healthy(timeout=60)``: every configured endpoint has a leader, no alarms are active, 3 voting members.
    - ``ip(i)``: ``'<net>.<i>'`` (i = 1..19; under pytest-xdist worker ``gwN`` uses ``<net>.<20*N+i>``, so
      parallel workers never share an address); ``bin_dir``: directory with etcd/etcdctl/etcdutl (unpacked from
      the fixture archive); ``version``: the etcd version under test (e.g. ``'3.5.30'``).

``run_module`` (session scope) -> ``run_module(module, args, check=False, diff=False, env=None, timeout=300,
module_defaults=None)``
    Runs ``etcdkit.etcd.<module>`` (or a FQCN) as a real Ansible module in a one-task playbook on localhost
    (``ansible-playbook``, ``ANSIBLE_CONFIG=<repo>/ansible.cfg``, the ``ansible.posix.json`` stdout callback) and
    returns a ``ModuleRun``: ``result`` (the task's result dict), ``failed``, ``changed``, ``msg``, ``rc``,
    ``stdout``, ``stderr``, ``output`` (stdout+stderr), ``diff`` (list of the module's diff dicts, or None).
    ``ETCDCTL_*`` variables of the test process are not passed on; ``env`` adds variables; ``module_defaults`` is
    set on the play, e.g. ``{'group/etcdkit.etcd.etcd': etcd_cluster.connection}``.

``run_modules`` (session scope) -> ``run_modules(calls, env=None, timeout=600, module_defaults=None)``
    Independent calls (``(module, args)`` or ``(module, args, {'check': bool, 'diff': bool})``) as consecutive
    tasks of ONE playbook (one ``ansible-playbook`` start instead of one per call; each task is still its own
    module process) with ``ignore_errors``, so every call runs; returns one ``ModuleRun`` per call (``stdout``,
    ``stderr``, ``output`` and ``rc`` are the playbook's). Only for calls that need no Python step in between
    (e.g. lists of bad inputs, each result asserted on its own); a probe such as ``('ansible.builtin.stat',
    {'path': ...})`` after each call checks side effects per call.

``assert_clean_failure(run, *words)`` (import it: ``from conftest import assert_clean_failure``; also the fixture
``clean_failure``) checks failed, a ``msg`` containing every word (case-insensitive), no ``Traceback`` anywhere and
``changed`` false.
"""

import atexit
import ctypes
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / '.collections'
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient, EtcdError  # noqa: E402

NET = os.environ.get('ETCDKIT_IT_NET', '127.0.20').rstrip('.')
# pytest-xdist (`-n 2 --dist loadfile`): every worker has its own cluster on its own addresses of the same /24,
# worker gwN on host numbers 20*N + 1..19 (gw0 keeps .1-.19, the addresses of a run without xdist)
WORKER = os.environ.get('PYTEST_XDIST_WORKER', '')
HOST_OFFSET = 20 * int(WORKER[2:]) if WORKER.startswith('gw') and WORKER[2:].isdigit() else 0
if HOST_OFFSET + 19 > 254:
    raise RuntimeError('too many pytest-xdist workers for one /24 (%s)' % WORKER)
PASSWORD = 'it-root-Secret-42'


CACHE = Path(os.environ.get('ETCDKIT_CACHE') or REPO / '.cache')
ARTIFACTS = CACHE / 'artifacts'


def _etcd_version():
    """The etcd under test: ``ETCDKIT_IT_ETCD_VERSION`` or the newest fixture built by ``make artifacts``."""
    version = os.environ.get('ETCDKIT_IT_ETCD_VERSION', '').strip()
    if version:
        return version
    try:
        return (ARTIFACTS / 'NEWEST').read_text().strip()
    except OSError:
        raise RuntimeError('%s/NEWEST not found: run `make artifacts` first' % ARTIFACTS)


def _find_bin_dir(version):
    """etcd/etcdctl/etcdutl of the fixture archive ``etcd-v<version>-linux-amd64.tar.gz`` (checked against
    SHA256SUMS), unpacked once to ``$ETCDKIT_CACHE/etcd-bin/v<version>-<sha256[:12]>`` (a rebuilt archive gets a
    fresh directory; concurrent xdist workers unpack to temp dirs and the first rename wins)."""
    import hashlib
    import tarfile
    name = 'etcd-v%s-linux-amd64.tar.gz' % version
    archive = ARTIFACTS / name
    sums = {}
    try:
        for line in (ARTIFACTS / 'SHA256SUMS').read_text().splitlines():
            digest, _sep, fname = line.partition('  ')
            sums[fname.strip()] = digest
    except OSError:
        pass
    if not archive.exists() or name not in sums:
        raise RuntimeError('%s (or its SHA256SUMS line) not found: run `make artifacts` first' % archive)
    dest = CACHE / 'etcd-bin' / ('v%s-%s' % (version, sums[name][:12]))
    if (dest / 'etcd').exists():
        return dest
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != sums[name]:
        raise RuntimeError('%s does not match SHA256SUMS: run `make artifacts`' % archive)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix='.unpack-', dir=str(dest.parent)))
    top = 'etcd-v%s-linux-amd64/' % version
    with tarfile.open(str(archive)) as tar:
        for member in tar.getmembers():
            tool = member.name[len(top):] if member.name.startswith(top) else ''
            if member.isfile() and tool in ('etcd', 'etcdctl', 'etcdutl'):
                with tar.extractfile(member) as src, open(str(tmp / tool), 'wb') as dst:
                    shutil.copyfileobj(src, dst)
                os.chmod(str(tmp / tool), 0o755)
    try:
        os.rename(str(tmp), str(dest))
    except OSError:  # another worker was first
        shutil.rmtree(str(tmp), ignore_errors=True)
    return dest


ETCD_VERSION = _etcd_version()
BIN_DIR = _find_bin_dir(ETCD_VERSION)
STATE_DIR = Path(tempfile.gettempdir()) / ('etcdkit-it-%s%s' % (NET, '+%d' % HOST_OFFSET if HOST_OFFSET else ''))
PIDFILE = STATE_DIR / 'pids'

# --------------------------------------------------------------------------------------------- processes

_LIVE = {}  # pid -> Popen


def _pdeathsig():
    try:
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _record_pids():
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    PIDFILE.write_text(''.join('%d\n' % p for p in _LIVE))


def _kill_leftovers():
    """Kill etcd processes recorded by an earlier, crashed run (by pid, only if they are still etcd)."""
    if not PIDFILE.exists():
        return
    for line in PIDFILE.read_text().split():
        try:
            pid = int(line)
            comm = Path('/proc/%d/comm' % pid).read_text().strip()
        except (ValueError, OSError):
            continue
        if comm == 'etcd':
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    PIDFILE.unlink()


def _stop(proc, grace=10):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    _LIVE.pop(proc.pid, None)
    _record_pids()


def _stop_all():
    for proc in list(_LIVE.values()):
        try:
            _stop(proc, grace=5)
        except Exception:
            pass


atexit.register(_stop_all)

# --------------------------------------------------------------------------------------------------- PKI


class PKI:
    def __init__(self, directory):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
        self.x509, self.hashes, self.serialization, self.ec = x509, hashes, serialization, ec
        self.EKU, self.NameOID = ExtendedKeyUsageOID, NameOID
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _key(self):
        return self.ec.generate_private_key(self.ec.SECP256R1())

    def _write(self, name, cert, key):
        crt, kp = self.dir / ('%s.crt' % name), self.dir / ('%s.key' % name)
        crt.write_bytes(cert.public_bytes(self.serialization.Encoding.PEM))
        kp.write_bytes(key.private_bytes(self.serialization.Encoding.PEM,
                                         self.serialization.PrivateFormat.PKCS8,
                                         self.serialization.NoEncryption()))
        os.chmod(kp, 0o600)
        return str(crt), str(kp)

    def ca(self, name):
        x509 = self.x509
        key = self._key()
        subject = x509.Name([x509.NameAttribute(self.NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .sign(key, self.hashes.SHA256()))
        crt, kp = self._write(name, cert, key)
        return dict(cert=cert, key=key, cert_path=crt, key_path=kp)

    def issue(self, ca, name, cn=None, ips=(), dns=(), server=True, client=True):
        x509 = self.x509
        key = self._key()
        attrs = [x509.NameAttribute(self.NameOID.COMMON_NAME, cn)] if cn else []
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips] + [x509.DNSName(d) for d in dns]
        ekus = ([self.EKU.SERVER_AUTH] if server else []) + ([self.EKU.CLIENT_AUTH] if client else [])
        builder = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca['cert'].subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(ekus), critical=False))
        if sans:
            # a certificate with an empty subject must carry a critical subjectAltName (RFC 5280)
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=not attrs)
        cert = builder.sign(ca['key'], self.hashes.SHA256())
        return self._write(name, cert, key)


# ---------------------------------------------------------------------------------------------- cluster


class EtcdProcess:
    def __init__(self, name, ip, data_dir, log, proc):
        self.name, self.ip, self.data_dir, self.log, self.proc = name, ip, data_dir, log, proc
        self.client_url = 'https://%s:2379' % ip
        self.peer_url = 'https://%s:2380' % ip

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


class EtcdTestCluster:
    def __init__(self, base_dir):
        self.base_dir = Path(base_dir)
        self.bin_dir = BIN_DIR
        self.version = ETCD_VERSION
        self.net = NET
        self.host_offset = HOST_OFFSET
        self.user = 'root'
        self.password = PASSWORD
        self.members = []
        pki = PKI(self.base_dir / 'pki')
        self.pki = pki
        self._ca = pki.ca('ca')
        self.ca_cert = self._ca['cert_path']
        self._node_certs = {}
        for i in range(1, 5):
            # peers connect from 127.0.0.1 on loopback, and etcd checks a peer certificate's IP SANs against the
            # remote address, so node certificates also carry 127.0.0.1
            self._node_certs[i] = pki.issue(self._ca, 'node%d' % i, cn='etcd%d' % i, ips=[self.ip(i), '127.0.0.1'])
        self.client_cert, self.client_key = pki.issue(self._ca, 'gateway-client', cn=None, dns=['etcd-gateway-client'],
                                                      server=False)
        self.cn_cert, self.cn_key = pki.issue(self._ca, 'root-client', cn='root', server=False)
        bad = pki.ca('bad-ca')
        self.bad_ca_cert = bad['cert_path']
        self.bad_client_cert, self.bad_client_key = pki.issue(bad, 'bad-client', cn=None, dns=['bad-client'],
                                                              server=False)

    # -- addresses
    def ip(self, i):
        """Address of test host ``i`` (1..19) of this cluster (``<net>.<i>``, shifted per xdist worker)."""
        return '%s.%d' % (self.net, self.host_offset + i)

    @property
    def endpoints(self):
        return ['https://%s:2379' % self.ip(i) for i in (1, 2, 3)]

    @property
    def connection(self):
        return dict(endpoints=list(self.endpoints), ca_cert=self.ca_cert, client_cert=self.client_cert,
                    client_key=self.client_key, user=self.user, password=self.password)

    def member(self, name):
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)

    def client(self, **overrides):
        kwargs = dict(self.connection)
        kwargs.update(overrides)
        return EtcdClient(**kwargs)

    # -- processes
    def start_member(self, name, ip, initial_cluster, state='existing', extra_args=()):
        index = int(ip.rsplit('.', 1)[1]) - self.host_offset
        crt, key = self._node_certs.get(index) or self.pki.issue(self._ca, 'node%d' % index, cn=name,
                                                                 ips=[ip, '127.0.0.1'])
        data_dir = self.base_dir / ('%s.etcd' % name)
        log = self.base_dir / ('%s.log' % name)
        args = [
            str(self.bin_dir / 'etcd'), '--name', name, '--data-dir', str(data_dir),
            '--listen-client-urls', 'https://%s:2379' % ip, '--advertise-client-urls', 'https://%s:2379' % ip,
            '--listen-peer-urls', 'https://%s:2380' % ip, '--initial-advertise-peer-urls', 'https://%s:2380' % ip,
            '--initial-cluster', initial_cluster, '--initial-cluster-state', state,
            '--initial-cluster-token', 'etcdkit-it',
            '--cert-file', crt, '--key-file', key, '--trusted-ca-file', self.ca_cert, '--client-cert-auth',
            '--peer-cert-file', crt, '--peer-key-file', key, '--peer-trusted-ca-file', self.ca_cert,
            '--peer-client-cert-auth', '--logger', 'zap', '--log-level', 'warn',
            '--listen-metrics-urls', '',
        ] + list(extra_args)
        fh = open(log, 'ab')
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=_pdeathsig, cwd=str(self.base_dir))
        fh.close()
        _LIVE[proc.pid] = proc
        _record_pids()
        member = EtcdProcess(name, ip, data_dir, log, proc)
        self.members = [m for m in self.members if m.name != name] + [member]
        return member

    def stop_member(self, name):
        m = self.member(name)
        if m.proc is not None:
            _stop(m.proc)
        self.members = [x for x in self.members if x.name != name]
        return m

    def remove_data(self, name):
        shutil.rmtree(self.base_dir / ('%s.etcd' % name), ignore_errors=True)

    def stop(self):
        for m in list(self.members):
            if m.proc is not None:
                _stop(m.proc)
        self.members = []

    # -- tools
    def etcdctl(self, *args, check=True, endpoints=None, timeout=60):
        cmd = [str(self.bin_dir / 'etcdctl'), '--endpoints', ','.join(endpoints or self.endpoints),
               '--cacert', self.ca_cert, '--cert', self.client_cert, '--key', self.client_key,
               '--user', '%s:%s' % (self.user, self.password), '--command-timeout', '20s'] + [str(a) for a in args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise AssertionError('etcdctl %s failed (%s): %s %s'
                                 % (' '.join(map(str, args)), res.returncode, res.stdout, res.stderr))
        return res

    def etcdctl_json(self, *args, **kwargs):
        return json.loads(self.etcdctl('-w', 'json', *args, **kwargs).stdout)

    def _etcdctl_cn(self, *args):
        """etcdctl authenticated by the CN=root client certificate (used before auth is enabled)."""
        cmd = [str(self.bin_dir / 'etcdctl'), '--endpoints', ','.join(self.endpoints), '--cacert', self.ca_cert,
               '--cert', self.cn_cert, '--key', self.cn_key] + list(args)
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if res.returncode != 0:
            raise RuntimeError('etcdctl %s failed: %s %s' % (' '.join(args), res.stdout, res.stderr))
        return res

    def _logs(self):
        out = []
        for m in self.members:
            try:
                out.append('--- %s\n%s' % (m.name, m.log.read_text()[-3000:]))
            except OSError:
                pass
        return '\n'.join(out)

    def wait_healthy(self, timeout=60, members=3):
        deadline = time.time() + timeout
        last = None
        # authenticated: etcd >= 3.5.28 answers maintenance Status only to a user when auth is on
        client = self.client(timeout=5)
        while time.time() < deadline:
            try:
                stats = [client.status(ep) for ep in self.endpoints]
                if all(s['leader_id'] for s in stats) and len(set(s['leader_id'] for s in stats)) == 1:
                    auth_client = self.client(timeout=5)
                    listing = auth_client.member_list(linearizable=True)
                    voting = [m for m in listing['members'] if not m['is_learner']]
                    if len(voting) == members and not auth_client.alarm_list():
                        return
                    last = 'members: %s' % listing['members']
                else:
                    last = 'statuses: %s' % stats
            except EtcdError as err:
                last = str(err)
            time.sleep(0.5)
        raise AssertionError('etcd test cluster not healthy after %ss: %s\n%s' % (timeout, last, self._logs()))

    def bootstrap(self):
        busy = []
        for i in (1, 2, 3):
            for port in (2379, 2380):
                s = socket.socket()
                s.settimeout(0.5)
                try:
                    if s.connect_ex((self.ip(i), port)) == 0:
                        busy.append('%s:%d' % (self.ip(i), port))
                finally:
                    s.close()
        if busy:
            raise RuntimeError('addresses already in use (another test run or leftover etcd?): %s; set ETCDKIT_IT_NET '
                               'to a free 127.0.x network' % ', '.join(busy))
        initial = ','.join('etcd%d=https://%s:2380' % (i, self.ip(i)) for i in (1, 2, 3))
        for i in (1, 2, 3):
            self.start_member('etcd%d' % i, self.ip(i), initial, state='new')
        # wait for a leader (no auth yet)
        deadline = time.time() + 60
        client = EtcdClient(self.endpoints, ca_cert=self.ca_cert, client_cert=self.client_cert,
                            client_key=self.client_key, timeout=5)
        while True:
            try:
                if all(client.status(ep)['leader_id'] for ep in self.endpoints):
                    break
            except EtcdError:
                pass
            if time.time() > deadline:
                raise RuntimeError('etcd test cluster did not elect a leader:\n%s' % self._logs())
            for m in self.members:
                if not m.running:
                    raise RuntimeError('etcd %s exited:\n%s' % (m.name, self._logs()))
            time.sleep(0.3)
        self._etcdctl_cn('user', 'add', 'root', '--new-user-password', self.password)
        self._etcdctl_cn('user', 'grant-role', 'root', 'root')
        self._etcdctl_cn('auth', 'enable')
        self.wait_healthy()


@pytest.fixture(scope='session')
def etcd_cluster(request):
    _kill_leftovers()
    base = Path(tempfile.mkdtemp(prefix='etcdkit-it-'))
    cluster = None

    def cleanup():
        if cluster is not None:
            cluster.stop()
        _stop_all()
        shutil.rmtree(str(base), ignore_errors=True)
        try:
            PIDFILE.unlink()
        except OSError:
            pass
        try:
            STATE_DIR.rmdir()
        except OSError:
            pass

    request.addfinalizer(cleanup)
    cluster = EtcdTestCluster(base)
    cluster.bootstrap()
    return cluster


# ------------------------------------------------------------------------------------------- run modules


class ModuleRun:
    def __init__(self, proc, result):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.output = proc.stdout + '\n' + proc.stderr
        self.result = result
        self.failed = bool(result.get('failed'))
        self.changed = bool(result.get('changed'))
        self.msg = result.get('msg', '')
        diff = result.get('diff')
        self.diff = [diff] if isinstance(diff, dict) else diff

    def __getitem__(self, key):
        return self.result[key]

    def get(self, key, default=None):
        return self.result.get(key, default)

    def __repr__(self):
        return 'ModuleRun(rc=%s, result=%s, stderr=%s)' % (
            self.rc, json.dumps(self.result, default=str)[:3000], self.stderr[-2000:])


def _task(module, args, check=False, diff=False, batch=False):
    fqcn = module if '.' in module else 'etcdkit.etcd.%s' % module
    task = {'name': 'under test', fqcn: args}
    if check:
        task['check_mode'] = True
    if diff:
        task['diff'] = True
    if batch:
        # every call of a batch runs and reports its own result, whatever the earlier ones did
        task['ignore_errors'] = True
    return task


def _run_playbook(tasks, env=None, timeout=300, tmp_dir=None, module_defaults=None):
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]
    if module_defaults:
        play[0]['module_defaults'] = module_defaults
    workdir = Path(tempfile.mkdtemp(prefix='etcdkit-run-', dir=tmp_dir))
    try:
        playbook = workdir / 'play.yml'
        playbook.write_text(json.dumps(play))  # JSON is YAML
        inventory = workdir / 'hosts.ini'
        inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
        environ = dict(os.environ)
        for var in list(environ):
            if var.startswith('ETCDCTL_'):
                del environ[var]
        environ.update({
            'ANSIBLE_CONFIG': str(REPO / 'ansible.cfg'),
            'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json',
            'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_FORCE_COLOR': '0',
            'ANSIBLE_LOCAL_TEMP': str(workdir / 'tmp'),
            'ANSIBLE_RETRY_FILES_ENABLED': '0',
            # startup cost: only the ini inventory plugin is tried on hosts.ini
            'ANSIBLE_INVENTORY_ENABLED': 'ini',
            'PATH': '%s:%s' % (Path(sys.executable).parent, environ.get('PATH', '')),
        })
        environ.update(env or {})
        proc = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(inventory),
                               str(playbook)], capture_output=True, text=True, cwd=str(REPO), env=environ,
                              timeout=timeout, check=False)
        try:
            data = json.loads(proc.stdout)
            results = [t['hosts']['localhost'] for t in data['plays'][0]['tasks']]
            if len(results) != len(tasks):
                raise ValueError('%d task results for %d tasks' % (len(results), len(tasks)))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise AssertionError('could not parse ansible-playbook output (%s): rc=%s\nstdout=%s\nstderr=%s'
                                 % (exc, proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
        return [ModuleRun(proc, result) for result in results]
    finally:
        shutil.rmtree(str(workdir), ignore_errors=True)


def _run_module(module, args, check=False, diff=False, env=None, timeout=300, tmp_dir=None, module_defaults=None):
    return _run_playbook([_task(module, args, check, diff)], env=env, timeout=timeout, tmp_dir=tmp_dir,
                         module_defaults=module_defaults)[0]


def _run_modules(calls, env=None, timeout=600, tmp_dir=None, module_defaults=None):
    """Independent calls as consecutive tasks of one playbook; see the module docstring."""
    tasks = []
    for call in calls:
        module, args = call[0], call[1]
        opts = call[2] if len(call) > 2 else {}
        tasks.append(_task(module, args, check=opts.get('check', False), diff=opts.get('diff', False), batch=True))
    return _run_playbook(tasks, env=env, timeout=timeout, tmp_dir=tmp_dir, module_defaults=module_defaults)


@pytest.fixture(scope='session')
def run_modules():
    return _run_modules


@pytest.fixture(scope='session')
def run_module():
    return _run_module


def assert_clean_failure(run, *words):
    assert run.failed, 'expected failure, got %r' % run
    assert 'Traceback' not in run.output, run.output[-4000:]
    assert 'Traceback' not in json.dumps(run.result), run
    assert not run.changed, run
    msg = str(run.msg).lower()
    for word in words:
        assert word.lower() in msg, 'expected %r in msg %r' % (word, run.msg)
    return run


@pytest.fixture(scope='session')
def clean_failure():
    return assert_clean_failure
