# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""``cert-textfile``: the certificate-expiry textfile of one cluster on this node (roles/monitoring/tasks/certs.yml).

Its ``--config`` is a JSON object: ``cluster``, ``member``, ``textfile_dir`` and ``certs`` ({name: path}). Every
certificate file that exists is read (the core's ``_certexpiry``); ``etcdkit_<cluster>_certs.prom`` is rewritten
atomically, only when its content changed. Prints JSON: changed, path, certs, missing, errors; exit 1 when a file
exists but is not a certificate (nothing is written then).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os

from ansible_collections.etcdkit.etcd.plugins.module_utils._certexpiry import read_certs, render, textfile_name
from ansible_collections.etcdkit.etcd.plugins.module_utils._fsutil import write_text_atomic

VERBS = ("cert-textfile",)


def _current(path):
    try:
        with open(path, "r") as fh:
            return fh.read()
    except (IOError, OSError):
        return None


def run(verb, cfg, args):  # pylint: disable=unused-argument
    found, missing, errors = read_certs(cfg["certs"])
    path = os.path.join(cfg["textfile_dir"], textfile_name(cfg["cluster"]))
    result = {"changed": False, "path": path, "certs": found, "missing": missing, "errors": errors}
    if not errors:
        text = render(cfg["cluster"], cfg["member"], found)
        if _current(path) != text:
            if not os.path.isdir(cfg["textfile_dir"]):
                os.makedirs(cfg["textfile_dir"], 0o755)
            write_text_atomic(path, text, 0o644)
            result["changed"] = True
    print(json.dumps(result, sort_keys=True))
    return 1 if errors else 0
