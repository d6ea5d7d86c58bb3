# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""``python3 -m etcd_ramdisk --config <unit>.json <verb>`` (the installed launcher does the same)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import sys

from .cli import main

sys.exit(main())
