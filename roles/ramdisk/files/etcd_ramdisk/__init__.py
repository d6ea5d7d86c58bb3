# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""etcd_ramdisk: keep an etcd member's data dir on a tmpfs without losing acknowledged writes.

Installed on the node by the etcdkit.etcd.ramdisk role next to a copy of the collection's standard-library core
(``ansible_collections.etcdkit.etcd.plugins.module_utils``), run through a small launcher
(``ramdisk_helper_path``). Modules:

``decide``    pure decision tables (prestart action, save guard, retention policy mapping), unit-tested
``wal``       offline reader of an etcd v3 WAL (member/cluster id, hard state)
``diskcopy``  durable sparse tree copy, ownership, the bbolt lock probe, mount table lookup
``node``      the helper's on-disk state: config, events, disk copy generations, clean mark
``member``    what talks to etcd: the core client, membership, snapshot store, restore
``cli``       the verbs (prestart, poststop, snapshot, adopt, promote, watermark, dr-restore, status)
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type
