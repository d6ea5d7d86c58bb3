# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Make ``ansible_collections.etcdkit.etcd`` importable when pytest runs from the checkout.

The checkout carries ``.collections/ansible_collections/etcdkit/etcd -> .``; under ``ansible-test units`` the
collection is already on the path and this does nothing.
"""

import os
import sys

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
_COLLECTIONS = os.path.join(_ROOT, '.collections')

try:
    import ansible_collections.etcdkit.etcd  # noqa: F401  pylint: disable=unused-import
except ImportError:
    if os.path.isdir(_COLLECTIONS) and _COLLECTIONS not in sys.path:
        sys.path.insert(0, _COLLECTIONS)
