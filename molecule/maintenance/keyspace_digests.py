# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Test helper of the maintenance scenario: the key-space digest of every member at one revision.

etcd's HashKV is gRPC only; over the JSON gateway ``/v3/maintenance/hash`` is Hash, a hash of the whole backend,
which differs legitimately between members after a defragmentation. So the members are compared with the
collection's own key-space digest (plugins/module_utils/_keyspace.py, also used by the restore drill): every key at
one revision, read from each member itself (serializable ranges). The revision is the lowest one the members
report, so every member has applied it. Prints JSON: {"revision": N, "members": {endpoint: {sha256, count}}}.
"""

from __future__ import (absolute_import, division, print_function)

import argparse
import json
import sys

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._keyspace import keyspace_digest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--endpoints', required=True, help='comma-separated client URLs, one per member')
    parser.add_argument('--cacert', required=True)
    parser.add_argument('--cert', required=True)
    parser.add_argument('--key', required=True)
    args = parser.parse_args()
    endpoints = args.endpoints.split(',')
    client = EtcdClient(endpoints, ca_cert=args.cacert, client_cert=args.cert, client_key=args.key)
    try:
        revision = min(client.status(e)['revision'] for e in endpoints)
        members = {}
        for endpoint in endpoints:
            digest = keyspace_digest(client, revision, endpoint=endpoint, serializable=True)
            members[endpoint] = dict(sha256=digest['sha256'], count=digest['count'])
    except EtcdError as err:
        print(json.dumps(dict(error=str(err))))
        return 1
    print(json.dumps(dict(revision=revision, members=members)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
