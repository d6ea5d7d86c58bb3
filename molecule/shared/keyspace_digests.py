# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Test fixture of the scenarios: the key-space digest of every member at one revision.

etcd's HashKV is gRPC only; over the JSON gateway ``/v3/maintenance/hash`` is Hash, a hash of the whole backend,
which differs legitimately between members (after a defragmentation, a rejoin or a restore). So the members are
compared with the collection's own key-space digest, ``_keyspace.member_digests``: every key at the lowest revision
the members report, read from each member itself. Prints JSON ``{"revision": R, "digests": {endpoint: {count,
sha256}}}``, or ``{"error": ...}`` with exit 1.
"""

from __future__ import (absolute_import, division, print_function)

import argparse
import json
import os
import sys

ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient  # noqa: E402
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import EtcdError  # noqa: E402
from ansible_collections.etcdkit.etcd.plugins.module_utils._keyspace import member_digests  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", required=True, help="comma-separated client URLs, one per member")
    parser.add_argument("--cacert")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    endpoints = args.endpoints.split(",")
    client = EtcdClient(endpoints, ca_cert=args.cacert, client_cert=args.cert, client_key=args.key, timeout=10)
    try:
        out = member_digests(client, endpoints)
    except EtcdError as err:
        print(json.dumps({"error": str(err)}))
        return 1
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
