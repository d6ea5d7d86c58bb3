# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Make the RAM-disk helper package (roles/ramdisk/files/etcd_ramdisk) and the collection importable.

On the node the role installs the package next to a copy of the collection's core under
``ansible_collections/etcdkit/etcd/plugins/module_utils``; here the checkout's ``.collections`` symlink (or the
ansible-test tree) provides the core and ``roles/ramdisk/files`` the package.
"""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
FILES = os.path.join(ROOT, 'roles', 'ramdisk', 'files')
_COLLECTIONS = os.path.join(ROOT, '.collections')

if FILES not in sys.path:
    sys.path.insert(0, FILES)
try:
    import ansible_collections.etcdkit.etcd  # noqa: F401  pylint: disable=unused-import
except ImportError:
    if os.path.isdir(_COLLECTIONS) and _COLLECTIONS not in sys.path:
        sys.path.insert(0, _COLLECTIONS)
