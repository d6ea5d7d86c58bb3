# -*- coding: utf-8 -*-
# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Stand-in for the pip bootstrap script ansible-test downloads from a host we cannot reach.

ansible-test runs it (via its quiet_pip wrapper) inside an empty virtualenv as
``get-pip.py [pip options] pip==X.Y [--no-setuptools] [--no-wheel]``.  We bootstrap the pip bundled with
Python (``ensurepip``, offline), then let that pip install the requested packages from the package index.
"""

import subprocess
import sys


def main():
    args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet'] + args)
    # ensurepip may have brought setuptools on old Pythons; ansible-test asked for none
    if '--no-setuptools' in sys.argv[1:]:
        subprocess.call([sys.executable, '-m', 'pip', 'uninstall', '--quiet', '--yes', 'setuptools'],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == '__main__':
    main()
