# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Certificate expiry of an etcd cluster's files on a node, for node_exporter's textfile collector (standard
library only: the node has no ``cryptography``).

``not_after`` reads notAfter from the first PEM certificate with a minimal DER walk (Certificate ->
tbsCertificate -> validity); ``read_certs`` reads a set of named files; ``render`` gives the textfile
(``etcdkit_cert_expiry_timestamp_seconds{cluster, member, cert, path}``, the monitoring contract). The node
helper's ``cert-textfile`` verb (roles/ramdisk/files/etcd_ramdisk/certs.py) writes it.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import base64
import calendar
import time

_BEGIN = '-----BEGIN CERTIFICATE-----'
_END = '-----END CERTIFICATE-----'


def _tlv(buf, pos):
    """(tag, content start, content end) of the DER element at ``pos``."""
    tag = buf[pos]
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[pos:pos + n], 'big')
        pos += n
    return tag, pos, pos + length


def _time(tag, raw):
    text = raw.decode('ascii')
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = ('19' if year >= 50 else '20') + text
    return calendar.timegm(time.strptime(text[:14], '%Y%m%d%H%M%S'))


def not_after(pem_text):
    """notAfter (Unix seconds) of the first certificate in a PEM text; ValueError when it is none."""
    try:
        begin = pem_text.index(_BEGIN) + len(_BEGIN)
        end = pem_text.index(_END, begin)
        der = base64.b64decode(''.join(pem_text[begin:end].split()))
        start = _tlv(der, 0)[1]               # Certificate
        pos, tbs_end = _tlv(der, start)[1:]   # tbsCertificate
        if der[pos] == 0xA0:                  # [0] version
            pos = _tlv(der, pos)[2]
        for dummy in ('serialNumber', 'signature', 'issuer'):
            pos = _tlv(der, pos)[2]
        tag, cstart = _tlv(der, pos)[:2]      # validity: SEQUENCE { notBefore, notAfter }
        nb_end = _tlv(der, cstart)[2]
        na_tag, na_start, na_end = _tlv(der, nb_end)
    except (IndexError, ValueError, TypeError) as exc:
        raise ValueError('not a PEM X.509 certificate (%s)' % exc)
    if tag != 0x30 or na_tag not in (0x17, 0x18) or na_end > tbs_end:
        raise ValueError('not an X.509 certificate')
    return _time(na_tag, der[na_start:na_end])


def read_certs(certs):
    """``certs``: {name: path} -> (found {name: {path, not_after}}, missing [path], errors {path: message})."""
    found, missing, errors = {}, [], {}
    for name, path in sorted(certs.items()):
        try:
            with open(path, 'r') as fh:
                found[name] = {'path': path, 'not_after': not_after(fh.read())}
        except (IOError, OSError) as exc:
            if getattr(exc, 'errno', None) == 2:
                missing.append(path)
            else:
                errors[path] = str(exc)
        except (ValueError, UnicodeDecodeError) as exc:
            errors[path] = str(exc)
    return found, missing, errors


def _label(value):
    return str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def textfile_name(cluster):
    return 'etcdkit_%s_certs.prom' % cluster


def render(cluster, member, found):
    """The textfile of one cluster on one member."""
    lines = [
        '# HELP etcdkit_cert_expiry_timestamp_seconds notAfter of an etcd certificate on this node (Unix seconds).',
        '# TYPE etcdkit_cert_expiry_timestamp_seconds gauge',
    ]
    for name in sorted(found):
        lines.append('etcdkit_cert_expiry_timestamp_seconds{cluster="%s",member="%s",cert="%s",path="%s"} %d' % (
            _label(cluster), _label(member), _label(name), _label(found[name]['path']), found[name]['not_after']))
    return '\n'.join(lines) + '\n'
