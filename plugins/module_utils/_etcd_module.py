# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Base of the modules of etcdkit.etcd: shared options, validators and the ONLY exit/failure path.

A module is DOCUMENTATION + an argument spec + ``run(module) -> result dict``; its ``main()`` is one call::

    def main():
        EtcdModule.execute(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)

``execute`` builds the module, calls ``run(module)`` and exits with its result. ``module.result`` (a dict,
``changed=False`` at first) is what ``run`` has done so far: any failure - ``module.fail(msg)``, a ``CoreError``
(``EtcdError``, ``SnapshotFileError``, ``RestoreError``) or a bad parameter value found by a validator - ends in
``fail_json`` with it, so a failure after a change still reports ``changed=True``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.etcdkit.etcd.plugins.module_utils._client import EtcdClient
from ansible_collections.etcdkit.etcd.plugins.module_utils._errors import CoreError, EtcdError
from ansible_collections.etcdkit.etcd.plugins.module_utils._verify import uncertain

DEFAULT_ENDPOINTS = ['https://127.0.0.1:2379']
DEFAULT_TIMEOUT = 10
DEFAULT_WAIT_TIMEOUT = 120


def connection_argspec():
    """The options of the ``etcdkit.etcd.connection`` doc fragment."""
    return dict(
        endpoints=dict(type='list', elements='str', default=list(DEFAULT_ENDPOINTS),
                       fallback=(env_fallback, ['ETCDCTL_ENDPOINTS'])),
        ca_cert=dict(type='path', fallback=(env_fallback, ['ETCDCTL_CACERT'])),
        client_cert=dict(type='path', fallback=(env_fallback, ['ETCDCTL_CERT'])),
        client_key=dict(type='path', no_log=False, fallback=(env_fallback, ['ETCDCTL_KEY'])),
        user=dict(type='str', fallback=(env_fallback, ['ETCDCTL_USER'])),
        password=dict(type='str', no_log=True, fallback=(env_fallback, ['ETCDCTL_PASSWORD'])),
        timeout=dict(type='float', default=DEFAULT_TIMEOUT),
        validate_certs=dict(type='bool', default=True),
    )


CONNECTION_OPTIONS = tuple(connection_argspec())


def split_user(user, password):
    """``user`` may be ``name:password`` (like ``etcdctl --user``) when ``password`` is not set."""
    if user and ':' in user and not password:
        name, secret = user.split(':', 1)
        return name, secret
    return user, password


class EtcdModule(AnsibleModule):
    """AnsibleModule with the shared connection options (``connection=False``: none), a lazily built
    ``EtcdClient`` (``client``), ``result`` and the one exit path (``execute``)."""

    def __init__(self, argument_spec=None, connection=True, **kwargs):
        spec = connection_argspec() if connection else {}
        spec.update(argument_spec or {})
        super(EtcdModule, self).__init__(argument_spec=spec, **kwargs)
        self._etcd_client = None
        self.result = dict(changed=False)
        self._hide_user_secret()

    def _hide_user_secret(self):
        """``user: name:password`` must never be logged or returned: its secret part joins the no_log values."""
        user = self.params.get('user')
        if isinstance(user, str) and ':' in user:
            secret = user.split(':', 1)[1]
            if secret:
                self.no_log_values.add(secret)

    def _log_invocation(self):
        # AnsibleModule logs the invocation at the end of its __init__: hide the secret before that
        self._hide_user_secret()
        super(EtcdModule, self)._log_invocation()

    # ------------------------------------------------------------------------------------------ client

    def build_client(self):
        p = self.params
        user, password = split_user(p.get('user'), p.get('password'))
        if p.get('timeout') is not None and p['timeout'] <= 0:
            self.fail('timeout must be a positive number of seconds, got %s.' % p['timeout'])
        return EtcdClient(
            endpoints=p.get('endpoints'), ca_cert=p.get('ca_cert'), client_cert=p.get('client_cert'),
            client_key=p.get('client_key'), user=user, password=password, timeout=p.get('timeout'),
            validate_certs=p.get('validate_certs'),
        )

    @property
    def client(self):
        if self._etcd_client is None:
            try:
                self._etcd_client = self.build_client()
            except EtcdError as err:
                self.fail_etcd(err)
        return self._etcd_client

    # ----------------------------------------------------------------------------------- validators

    def require_non_negative(self, *names):
        for name in names:
            value = self.params.get(name)
            if value is not None and value < 0:
                self.fail('%s must be >= 0, got %s.' % (name, value))

    def require_positive(self, *names):
        for name in names:
            value = self.params.get(name)
            if value is not None and value <= 0:
                self.fail('%s must be a positive number, got %s.' % (name, value))

    # ---------------------------------------------------------------------------------- exit path

    def fail(self, msg, **extra):
        """Fail with ``msg``, the result so far and ``extra``."""
        result = dict(self.result)
        result.update(extra)
        self.fail_json(msg=msg, **result)

    def fail_etcd(self, err, **extra):
        """Fail with a CoreError: its message, ``error`` (its dict), its ``details`` as result keys (e.g.
        ``learner`` of a failed promotion) and the result so far."""
        result = dict(self.result)
        result.update(err.details)
        result.update(extra)
        result['error'] = err.to_dict()
        if uncertain(err):
            # a change was sent and its answer lost: something may have been written
            result.update(changed=True, may_have_been_applied=True)
        self.fail_json(msg=err.message, **result)

    def run(self, func, **result_on_error):
        """Call ``func()``; a CoreError escaping from it becomes ``fail_json``. Returns what ``func`` returns."""
        try:
            return func()
        except CoreError as err:
            self.fail_etcd(err, **result_on_error)

    @classmethod
    def execute(cls, run, argument_spec=None, **kwargs):
        """Build the module, ``result = run(module)``, exit with it (``module.result`` updated by it). The only
        exit path of every module of this collection."""
        module = cls(argument_spec=argument_spec, **kwargs)
        result = module.run(lambda: run(module))
        if result is not None:
            module.result.update(result)
        module.exit_json(**module.result)
