# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Every module: argument spec == DOCUMENTATION (names, types, defaults, choices, aliases, suboptions), doc
fragments included; main() is the one call into EtcdModule.execute (the only exit path); shared options have
the same type in every module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import importlib
import inspect
import os

import pytest
import yaml

from ansible_collections.etcdkit.etcd.plugins.module_utils._etcd_module import connection_argspec

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
MODULE_DIR = os.path.join(ROOT, 'plugins', 'modules')
MODULES = sorted(n[:-3] for n in os.listdir(MODULE_DIR) if n.endswith('.py') and not n.startswith('_'))
PKG = 'ansible_collections.etcdkit.etcd.plugins'


def load(name):
    return importlib.import_module('%s.modules.%s' % (PKG, name))


def fragment(ref):
    """DOCUMENTATION dict of a fragment reference like etcdkit.etcd.attributes.action_group."""
    parts = ref.split('.')
    assert parts[:2] == ['etcdkit', 'etcd'], ref
    mod = importlib.import_module('%s.doc_fragments.%s' % (PKG, parts[2]))
    attr = parts[3].upper() if len(parts) > 3 else 'DOCUMENTATION'
    return yaml.safe_load(getattr(mod.ModuleDocFragment, attr))


def documentation(name):
    doc = yaml.safe_load(load(name).DOCUMENTATION)
    options, attributes = {}, {}
    for ref in doc.get('extends_documentation_fragment') or []:
        frag = fragment(ref)
        options.update(frag.get('options') or {})
        for key, value in (frag.get('attributes') or {}).items():
            attributes.setdefault(key, {}).update(value)
    options.update(doc.get('options') or {})
    for key, value in (doc.get('attributes') or {}).items():
        attributes.setdefault(key, {}).update(value)
    return doc, options, attributes


def uses_connection(doc):
    return 'etcdkit.etcd.connection' in (doc.get('extends_documentation_fragment') or [])


def argspec(name):
    doc, dummy, dummy2 = documentation(name)
    spec = connection_argspec() if uses_connection(doc) else {}
    spec.update(load(name).ARGUMENT_SPEC)
    return spec


def compare(doc_opts, spec, where):
    problems = []
    if set(doc_opts) != set(spec):
        problems.append('%s: documented %s, argument spec %s' % (where, sorted(doc_opts), sorted(spec)))
    for key in sorted(set(doc_opts) & set(spec)):
        d, s = doc_opts[key], spec[key]
        for attr, default in (('type', 'str'), ('default', None), ('choices', None), ('required', False),
                              ('elements', None), ('aliases', None)):
            dv, sv = d.get(attr, default), s.get(attr, default)
            if attr == 'default' and dv is not None and sv is not None and s.get('type') in ('float', 'int'):
                dv, sv = float(dv), float(sv)
            if attr == 'default' and s.get('type') == 'raw':
                dv, sv = str(dv), str(sv)
            if dv != sv:
                problems.append('%s.%s: %s documented %r, argument spec %r' % (where, key, attr, dv, sv))
        if 'suboptions' in d or 'options' in s:
            problems += compare(d.get('suboptions') or {}, s.get('options') or {}, '%s.%s' % (where, key))
    return problems


@pytest.mark.parametrize('name', MODULES)
def test_argument_spec_matches_documentation(name):
    dummy, options, dummy2 = documentation(name)
    assert compare(options, argspec(name), name) == []


@pytest.mark.parametrize('name', MODULES)
def test_attributes_documented(name):
    doc, dummy, attributes = documentation(name)
    for attr in ('check_mode', 'diff_mode'):
        assert attributes[attr].get('description') and attributes[attr].get('support') in ('full', 'partial', 'none')
    if uses_connection(doc):
        assert attributes['action_group']['membership'] == ['etcdkit.etcd.etcd']


@pytest.mark.parametrize('name', MODULES)
def test_main_is_one_call_into_the_exit_path(name):
    source = inspect.getsource(load(name))
    tree = ast.parse(source)
    main = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == 'main'][0]
    assert len(main.body) == 1 and isinstance(main.body[0], ast.Expr), name
    call = main.body[0].value
    assert isinstance(call, ast.Call) and ast.unparse(call.func) == 'EtcdModule.execute', name
    # no module ends on its own: exit_json/fail_json live in EtcdModule only, and a handler of an etcd error in a
    # module may add context or decide, but always hands the error on (raise), never ends the module itself
    assert 'exit_json' not in source and 'fail_json' not in source and 'sys.exit' not in source
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is not None \
                and ast.unparse(node.type) in ('EtcdError', 'CoreError'):
            assert any(isinstance(n, ast.Raise) for n in ast.walk(node)), (name, node.lineno)


def test_shared_option_names_have_one_type_and_default():
    seen = {}
    for name in MODULES:
        dummy, options, dummy2 = documentation(name)
        for key in ('wait_timeout', 'quota_backend_bytes', 'max_raft_lag', 'force', 'timeout'):
            if key in options:
                seen.setdefault(key, set()).add(options[key].get('type', 'str'))
    assert all(len(types) == 1 for types in seen.values()), seen
    assert seen['wait_timeout'] == {'float'} and seen['quota_backend_bytes'] == {'int'}


def test_quota_option_keeps_the_old_name_as_alias():
    for name in MODULES:
        spec = argspec(name)
        if 'quota_backend_bytes' in spec:
            assert 'quota_bytes' in spec['quota_backend_bytes'].get('aliases', []), name
