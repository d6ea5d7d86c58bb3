# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):
    """Shared ``attributes`` of the modules of etcdkit.etcd.

    A module extends ``etcdkit.etcd.attributes`` (check_mode and diff_mode descriptions) and, when it talks to
    etcd, ``etcdkit.etcd.attributes.action_group``; it then only states ``support`` (and ``details``) per
    attribute.
    """

    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
'''

    ACTION_GROUP = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/etcdkit.etcd.etcd) in C(module_defaults) to set the connection options for all etcd modules.
    support: full
    membership:
      - etcdkit.etcd.etcd
'''
