# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The helper runs on the node with nothing but the standard library, its package and the copied core files.

Builds the layout the role installs (tasks/install_lib.yml: the package, the core's files minus
``_ramdisk_core_exclude``, empty ``__init__.py`` files) in a temporary directory and imports every module of the
package there with ``python3 -I -S`` (no site packages, so no ansible): an import of a core file that is not copied
or that needs ansible fails here, not on a node at boot.
"""

import glob
import os
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'ramdisk')


def _role_vars():
    with open(os.path.join(ROLE, 'vars', 'main.yml')) as handle:
        return yaml.safe_load(handle)


def test_package_imports_on_a_node_layout(tmp_path):
    role_vars = _role_vars()
    core_pkg = role_vars['_ramdisk_core_pkg']
    exclude = set(role_vars['_ramdisk_core_exclude'])
    assert '_etcd_module.py' in exclude
    (tmp_path / 'etcd_ramdisk').mkdir()
    modules = []
    for src in sorted(glob.glob(os.path.join(ROLE, 'files', 'etcd_ramdisk', '*.py'))):
        shutil.copy(src, str(tmp_path / 'etcd_ramdisk'))
        name = os.path.basename(src)[:-3]
        if name not in ('__init__', '__main__'):
            modules.append('etcd_ramdisk.' + name)
    core_dir = tmp_path / core_pkg
    core_dir.mkdir(parents=True)
    copied = []
    for src in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'module_utils', '*.py'))):
        if os.path.basename(src) not in exclude:
            shutil.copy(src, str(core_dir))
            copied.append(os.path.basename(src))
    parts = core_pkg.split('/')
    for depth in range(1, len(parts) + 1):
        (tmp_path.joinpath(*parts[:depth]) / '__init__.py').write_text('')
    assert modules and copied
    code = ('import sys; sys.path.insert(0, %r)\n' % str(tmp_path)
            + ''.join('import %s\n' % m for m in modules)
            + 'assert "ansible" not in sys.modules, sorted(sys.modules)\n'
            + 'from etcd_ramdisk.cli import parser; parser().parse_args(["--config", "x", "status"])\n'
            # every core file this layout imports resolves to the copy, never to the checkout
            + 'import ansible_collections.etcdkit.etcd.plugins.module_utils as mu\n'
            + 'assert mu.__file__.startswith(%r), mu.__file__\n' % str(tmp_path))
    res = subprocess.run([sys.executable, '-I', '-S', '-c', code], capture_output=True, text=True, cwd=str(tmp_path),
                         check=False)
    assert res.returncode == 0, res.stderr


def test_excluded_core_files_exist():
    """Every exclusion names a core file that is really there (a stale exclusion would hide nothing)."""
    for name in _role_vars()['_ramdisk_core_exclude']:
        assert os.path.isfile(os.path.join(ROOT, 'plugins', 'module_utils', name)), name
