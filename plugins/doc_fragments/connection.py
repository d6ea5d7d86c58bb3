# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  endpoints:
    description:
      - etcd client URLs (the v3 JSON gateway, C(https://HOST:2379)). An address without a scheme means C(https://).
      - Calls that are not tied to one member are tried on the endpoints in order; the next one is used when an
        endpoint is unreachable, fails TLS, times out or has no leader.
      - If not set, the comma-separated environment variable E(ETCDCTL_ENDPOINTS) is used.
    type: list
    elements: str
    default: ['https://127.0.0.1:2379']
  ca_cert:
    description:
      - PEM file with the CA certificate(s) that signed the etcd server certificates.
      - If not set, the environment variable E(ETCDCTL_CACERT) is used; otherwise the system trust store.
    type: path
  client_cert:
    description:
      - PEM client certificate, for clusters started with C(--client-cert-auth). Requires O(client_key).
      - When the cluster also has authentication enabled, the JSON gateway rejects client certificates that carry
        a CommonName; use a certificate without CN (subjectAltName only) together with O(user) and O(password).
      - If not set, the environment variable E(ETCDCTL_CERT) is used.
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert).
      - If not set, the environment variable E(ETCDCTL_KEY) is used.
    type: path
  user:
    description:
      - etcd user for clusters with authentication enabled. The modules authenticate and send the token with each
        request; membership and maintenance calls need a user with the C(root) role.
      - If not set, the environment variable E(ETCDCTL_USER) is used (C(name) or C(name:password) as etcdctl
        accepts).
    type: str
  password:
    description:
      - Password of O(user).
      - If not set, the environment variable E(ETCDCTL_PASSWORD) is used.
    type: str
  timeout:
    description:
      - Seconds to wait for each HTTP request. Snapshot, defragmentation and compaction wait at least 60 seconds.
    type: float
    default: 10
  validate_certs:
    description:
      - Verify the server certificate and its host name. Only set to V(false) on a lab.
    type: bool
    default: true
notes:
  - The modules talk to etcd's v3 JSON gateway with the Python standard library only; no etcd client library is
    needed on the target. HTTP(S) proxy environment variables are ignored.
  - All modules of this collection that talk to etcd are in the action group C(etcdkit.etcd.etcd), so the
    connection options can be set once with C(module_defaults) and C(group/etcdkit.etcd.etcd).
'''
