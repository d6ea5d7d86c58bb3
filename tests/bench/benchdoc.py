# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Shared by the bench scripts: replace (or append) one marked section of docs/benchmarks.md."""

import os


def write_section(doc, begin, end, section):
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) in place of the marked section of
    ``doc``, or append it when the markers are not there yet; the rest of the file is kept as it is."""
    text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(doc, "w") as f:
        f.write(text)
