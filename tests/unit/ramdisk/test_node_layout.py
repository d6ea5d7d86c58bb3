# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""The helper runs on the node with nothing but the standard library, its package and the copied core files.

Builds the layout the role installs (tasks/install_lib.yml: the package, the core's files minus
``_ramdisk_core_exclude``, empty ``__init__.py`` files, packed into one tar by files/pack_lib.py) in a temporary
directory by unpacking that tar, and imports every module of the package there with ``python3 -I -S`` (no site
packages, so no ansible): an import of a core file that is not copied or that needs ansible fails here, not on a
node at boot.
"""

import glob
import os
import stat
import subprocess
import sys
import tarfile

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
    sys.path.insert(0, os.path.join(ROLE, 'files'))
    try:
        import pack_lib  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    pairs, modules, copied = [], [], []
    for src in sorted(glob.glob(os.path.join(ROLE, 'files', 'etcd_ramdisk', '*.py'))):
        pairs.append([src, 'etcd_ramdisk/' + os.path.basename(src)])
        name = os.path.basename(src)[:-3]
        if name not in ('__init__', '__main__'):
            modules.append('etcd_ramdisk.' + name)
    for src in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'module_utils', '*.py'))):
        if os.path.basename(src) not in exclude:
            pairs.append([src, core_pkg + '/' + os.path.basename(src)])
            copied.append(os.path.basename(src))
    parts = core_pkg.split('/')
    packed = str(tmp_path / 'pack' / 'helper.tar')
    pack_lib.pack(packed, pairs, ['/'.join(parts[:depth]) for depth in range(1, len(parts) + 1)])
    with tarfile.open(packed) as tar:
        for member in tar.getmembers():
            assert (member.uid, member.gid) == (0, 0), member.name
            assert member.mode == (0o755 if member.isdir() else 0o644), member.name
        tar.extractall(str(tmp_path / 'lib'))  # noqa: S202 (our own archive)
    assert not [n for n in os.listdir(str(tmp_path / 'pack')) if n != 'helper.tar']  # no temporary file left
    assert stat.S_IMODE(os.stat(str(tmp_path / 'pack')).st_mode) == 0o700
    tmp_path = tmp_path / 'lib'
    for depth in range(1, len(parts) + 1):
        assert (tmp_path.joinpath(*parts[:depth]) / '__init__.py').is_file()
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
