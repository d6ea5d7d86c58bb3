# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The helper's cert-textfile verb (etcd_ramdisk/certs.py on the core's _certexpiry): notAfter read with the
standard library only equals what `cryptography` put into the certificate (UTCTime and GeneralizedTime), and the
textfile is written atomically, only when it changes, with the contract's labels."""

import datetime
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from etcd_ramdisk import cli


def _cert(path, not_after, cn='member'):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
            .not_valid_after(not_after).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _run(args, tmp_path, capsys):
    config = tmp_path / 'certs.json'
    config.write_text(json.dumps(args))
    rc = cli.main(['--config', str(config), 'cert-textfile'])
    return rc, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('not_after', [
    datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),   # UTCTime
    datetime.datetime(2061, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),   # GeneralizedTime (year >= 2050)
])
def test_not_after_and_textfile(tmp_path, capsys, not_after):
    _cert(tmp_path / 'member.crt', not_after)
    _cert(tmp_path / 'ca.crt', not_after + datetime.timedelta(days=1), cn='ca')
    args = {'cluster': 'storageos-etcd', 'member': 'node1', 'textfile_dir': str(tmp_path / 'tf'),
            'certs': {'member': str(tmp_path / 'member.crt'), 'ca': str(tmp_path / 'ca.crt'),
                      'gateway': str(tmp_path / 'missing.crt')}}
    rc, res = _run(args, tmp_path, capsys)
    assert rc == 0 and res['changed'] is True
    assert res['certs']['member']['not_after'] == int(not_after.timestamp())
    assert res['missing'] == [str(tmp_path / 'missing.crt')]
    text = (tmp_path / 'tf' / 'etcdkit_storageos-etcd_certs.prom').read_text()
    assert ('etcdkit_cert_expiry_timestamp_seconds{cluster="storageos-etcd",member="node1",cert="member",path="%s"} %d'
            % (tmp_path / 'member.crt', int(not_after.timestamp()))) in text
    assert ('cert="ca"' in text) and ('gateway' not in text)
    assert os.listdir(str(tmp_path / 'tf')) == ['etcdkit_storageos-etcd_certs.prom']
    rc, res = _run(args, tmp_path, capsys)
    assert rc == 0 and res['changed'] is False


def test_not_a_certificate_fails_and_writes_nothing(tmp_path, capsys):
    (tmp_path / 'bad.crt').write_text('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    rc, res = _run({'cluster': 'etcd', 'member': 'm', 'textfile_dir': str(tmp_path / 'tf'),
                    'certs': {'member': str(tmp_path / 'bad.crt')}}, tmp_path, capsys)
    assert rc == 1 and str(tmp_path / 'bad.crt') in res['errors']
    assert not (tmp_path / 'tf').exists()
