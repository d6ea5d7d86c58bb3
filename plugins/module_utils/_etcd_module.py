# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Base for the modules of etcdkit.etcd (in the style of community.hashi_vault).

- ``generate_argspec(**extra)``: the shared connection options of the ``etcdkit.etcd.connection`` doc
  fragment (``endpoints``, ``ca_cert``, ``client_cert``, ``client_key``, ``user``, ``password``, ``timeout``,
  ``validate_certs``) with their ETCDCTL_* environment fallbacks, merged with the module's own options.
- ``EtcdModule(argument_spec=..., **AnsibleModule kwargs)``: an ``AnsibleModule`` whose ``client`` property
  builds one ``EtcdClient`` from the parameters, and whose ``fail_etcd(err, **result)`` turns an
  ``EtcdError`` into ``fail_json(msg=...)``; ``run(func)`` calls ``func()`` and converts any ``EtcdError``
  escaping from it, so a module never ends in a traceback for an etcd problem.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import (
    EtcdClient,
    EtcdError,
)

DEFAULT_ENDPOINTS = ['https://127.0.0.1:2379']


def connection_argspec():
    return dict(
        endpoints=dict(type='list', elements='str', default=list(DEFAULT_ENDPOINTS),
                       fallback=(env_fallback, ['ETCDCTL_ENDPOINTS'])),
        ca_cert=dict(type='path', fallback=(env_fallback, ['ETCDCTL_CACERT'])),
        client_cert=dict(type='path', fallback=(env_fallback, ['ETCDCTL_CERT'])),
        client_key=dict(type='path', no_log=False, fallback=(env_fallback, ['ETCDCTL_KEY'])),
        user=dict(type='str', fallback=(env_fallback, ['ETCDCTL_USER'])),
        password=dict(type='str', no_log=True, fallback=(env_fallback, ['ETCDCTL_PASSWORD'])),
        timeout=dict(type='float', default=10),
        validate_certs=dict(type='bool', default=True),
    )


def generate_argspec(**kwargs):
    spec = connection_argspec()
    spec.update(kwargs)
    return spec


CONNECTION_OPTIONS = tuple(connection_argspec())


class EtcdModule(AnsibleModule):
    """AnsibleModule with the shared connection options and a lazily built EtcdClient."""

    def __init__(self, argument_spec=None, **kwargs):
        spec = connection_argspec()
        spec.update(argument_spec or {})
        super(EtcdModule, self).__init__(argument_spec=spec, **kwargs)
        self._etcd_client = None

    def build_client(self):
        p = self.params
        user = p.get('user')
        password = p.get('password')
        if user and ':' in user and not password:
            # ETCDCTL_USER may be 'name:password' like etcdctl --user
            user, password = user.split(':', 1)
        return EtcdClient(
            endpoints=p.get('endpoints'), ca_cert=p.get('ca_cert'), client_cert=p.get('client_cert'),
            client_key=p.get('client_key'), user=user, password=password, timeout=p.get('timeout'),
            validate_certs=p.get('validate_certs'),
        )

    @property
    def client(self):
        if self._etcd_client is None:
            try:
                if self.params.get('timeout') is not None and self.params['timeout'] <= 0:
                    self.fail_json(msg='timeout must be a positive number of seconds, got %s.'
                                   % self.params['timeout'])
                self._etcd_client = self.build_client()
            except EtcdError as err:
                self.fail_etcd(err)
        return self._etcd_client

    def fail_etcd(self, err, **result):
        result.setdefault('changed', False)
        result['error'] = err.to_dict()
        self.fail_json(msg=err.message, **result)

    def run(self, func, **result_on_error):
        try:
            return func()
        except EtcdError as err:
            self.fail_etcd(err, **result_on_error)
