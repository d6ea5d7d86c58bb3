#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
module: etcd_alarm
short_description: List or safely disarm etcd alarms
version_added: 0.1.0
description:
  - Lists the active alarms of an etcd v3 cluster, or disarms them.
  - A C(NOSPACE) alarm is only disarmed when the largest member database is below O(max_quota_usage) percent of the
    backend quota (compact and defragment first, for example with M(etcdkit.etcd.etcd_defrag)); otherwise etcd would
    raise it again at once. A C(CORRUPT) alarm is never disarmed, because it means members hold different data.
    O(force=true) overrides both rules.
  - When any selected alarm may not be disarmed, the module fails and disarms nothing.
author:
  - etcdkit maintainers (@etcdkit)
extends_documentation_fragment:
  - etcdkit.etcd.connection
  - etcdkit.etcd.attributes
  - etcdkit.etcd.attributes.action_group
options:
  state:
    description:
      - V(listed) only reports the alarms; V(disarmed) deactivates the selected alarms.
    type: str
    choices: [listed, disarmed]
    default: listed
  alarm:
    description:
      - Which alarms O(state=disarmed) acts on.
    type: str
    choices: [NOSPACE, CORRUPT, ALL]
    default: ALL
  quota_backend_bytes:
    description:
      - The backend quota etcd runs with (C(--quota-backend-bytes)); etcd does not report it over its API.
      - The etcd default is 2 GiB.
    type: int
    default: 2147483648
    aliases: [quota_bytes]
  max_quota_usage:
    description:
      - Highest database size, in percent of O(quota_backend_bytes), at which a C(NOSPACE) alarm may be disarmed.
    type: float
    default: 80
  force:
    description:
      - Disarm even a C(CORRUPT) alarm, or a C(NOSPACE) alarm while the database is still too large or its size is
        unknown.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reports which alarms would be disarmed.
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: List alarms
  etcdkit.etcd.etcd_alarm:
    endpoints: https://10.0.0.11:2379
    ca_cert: /etc/etcd/pki/ca.crt
    user: root
    password: "{{ etcd_root_password }}"
  register: alarms

- name: Disarm NOSPACE after compaction and defragmentation (cluster runs with an 8 GiB quota)
  etcdkit.etcd.etcd_alarm:
    state: disarmed
    alarm: NOSPACE
    quota_backend_bytes: 8589934592
'''

RETURN = r'''
alarms:
  description: Alarms active after the task (in check mode - that would be active).
  returned: success
  type: list
  elements: dict
  contains:
    member_id:
      description: Id (hex) of the member that raised the alarm.
      type: str
      sample: "8e9e05c52164694d"
    alarm:
      description: Alarm type.
      type: str
      sample: NOSPACE
  sample: []
disarmed:
  description: Alarms that were (in check mode - would be) disarmed.
  returned: success
  type: list
  elements: dict
  sample: [{"member_id": "8e9e05c52164694d", "alarm": "NOSPACE"}]
quota_usage:
  description: Size of the largest member database in percent of O(quota_backend_bytes); null when unknown.
  returned: when O(state=disarmed)
  type: float
  sample: 12.5
'''

from ansible_collections.etcdkit.etcd.plugins.module_utils._cluster import alarm_plan, cluster_view
from ansible_collections.etcdkit.etcd.plugins.module_utils._defrag_rules import DEFAULT_QUOTA_BYTES
from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import EtcdModule
from ansible_collections.etcdkit.etcd.plugins.module_utils._verify import LANDED_WARNING, attempt
from ansible_collections.etcdkit.etcd.plugins.module_utils._transport import format_id

ARGUMENT_SPEC = dict(
    state=dict(type='str', default='listed', choices=['listed', 'disarmed']),
    alarm=dict(type='str', default='ALL', choices=['NOSPACE', 'CORRUPT', 'ALL']),
    quota_backend_bytes=dict(type='int', default=DEFAULT_QUOTA_BYTES, aliases=['quota_bytes']),
    max_quota_usage=dict(type='float', default=80),
    force=dict(type='bool', default=False),
)


def _public(alarms):
    return [dict(member_id=format_id(a['member_id']), alarm=a['alarm']) for a in alarms]


def run(module):
    p = module.params
    if p['quota_backend_bytes'] <= 0:
        module.fail('quota_backend_bytes must be a positive number of bytes (etcd default %d).' % DEFAULT_QUOTA_BYTES)
    if not 0 < p['max_quota_usage'] <= 100:
        module.fail('max_quota_usage is a percentage: give a number above 0 and at most 100.')
    client = module.client
    alarms = client.alarm_list()
    module.result.update(alarms=_public(alarms), disarmed=[])
    if p['state'] == 'listed':
        return
    view = cluster_view(client)
    sizes = dict((m['id'], (view['status'].get(m['id']) or {}).get('db_size')) for m in view['members'])
    to_disarm, refusals, usage = alarm_plan(alarms, p['alarm'], sizes, p['quota_backend_bytes'],
                                            p['max_quota_usage'], p['force'])
    module.result['quota_usage'] = round(usage, 2) if usage is not None else None
    if refusals:
        module.fail('Not disarming: %s.' % '; '.join(refusals))
    if not to_disarm:
        return
    remaining = [a for a in alarms if a not in to_disarm]
    if not module.check_mode:
        for a in to_disarm:
            answered, dummy = attempt(lambda: client.alarm_disarm(a['member_id'], a['alarm']),
                                      lambda: a not in client.alarm_list(),
                                      'disarming %s of member %s' % (a['alarm'], format_id(a['member_id'])))
            if not answered:
                module.warn(LANDED_WARNING % ('disarming %s' % a['alarm'], 'connection lost or timed out'))
            module.result['changed'] = True
        remaining = client.alarm_list()
    module.result.update(changed=True, disarmed=_public(to_disarm), alarms=_public(remaining))


def main():
    EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == '__main__':
    main()
