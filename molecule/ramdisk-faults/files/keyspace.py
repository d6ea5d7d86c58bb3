#!/usr/bin/env python3
"""Test fixture of the ramdisk-faults scenario: the key-space digest of every member at one revision.

Reads each member's own store (serializable range at one fixed revision, the collection's core
``_keyspace.keyspace_digest``): equal digests mean equal key spaces. Over the JSON gateway ``hash_kv`` is really
Hash (the whole backend, membership included) and differs legitimately between a rejoined or restored member and
the others, so it is not used here. The revision is the lowest that every member reports (no writes run while this
is called). Prints ``{"revision": R, "digests": {endpoint: {"count", "sha256"}}}``.
"""
import argparse
import json
import os
import sys

ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.join(os.path.dirname(__file__), "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient  # noqa: E402
from ansible_collections.etcdkit.etcd.plugins.module_utils._keyspace import keyspace_digest  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", required=True)
    parser.add_argument("--cacert")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    endpoints = args.endpoints.split(",")
    client = EtcdClient(endpoints, ca_cert=args.cacert, client_cert=args.cert, client_key=args.key, timeout=10)
    revision = min(client.status(ep)["revision"] for ep in endpoints)
    digests = {}
    for ep in endpoints:
        digest = keyspace_digest(client, revision, endpoint=ep, serializable=True)
        digests[ep] = {"count": digest["count"], "sha256": digest["sha256"]}
    print(json.dumps({"revision": revision, "digests": digests}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
