# Copyright (c) etcdkit maintainers
# SPDX-License-Identifier: Apache-2.0
"""Shared by the bench scripts: the machine line, and replacing (or appending) one marked section of
docs/benchmarks.md."""

import os
import platform
import re


def cpu_model():
    """The CPU's model name from /proc/cpuinfo ("unknown CPU" when it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            return re.search(r"^model name\s*: (.*)$", f.read(), re.M).group(1)
    except (OSError, AttributeError):
        return "unknown CPU"


def machine():
    """Cores, CPU model and platform of this machine, as every bench report names it."""
    return "%d cores (%s), %s" % (os.cpu_count(), cpu_model(), platform.platform())


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


def plot_bars(doc, name, title, categories, series, ylabel, note=None):
    """Write a grouped bar chart to ``img/<name>.png`` next to ``doc``: one group per category, one bar per series
    (``series``: list of ``(name, [value per category])``; None for a missing value). Returns the Markdown image
    line. Needs matplotlib (``make bench`` installs requirements-bench.txt)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("matplotlib is missing: `make bench` installs requirements-bench.txt into .venv")
    rel = "img/%s.png" % name
    png = os.path.join(os.path.dirname(os.path.abspath(doc)), rel)
    os.makedirs(os.path.dirname(png), exist_ok=True)
    n = max(len(series), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(categories) + 2), 3.6), dpi=100)
    for i, (label, values) in enumerate(series):
        xs = [c + (i - (n - 1) / 2.0) * width for c in range(len(categories))]
        vals = [0 if v is None else v for v in values]
        bars = ax.bar(xs, vals, width, label=label)
        for bar, v in zip(bars, values):
            ax.annotate("n/a" if v is None else ("%.3g" % v), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(categories, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if note:
        fig.text(0.01, 0.01, note, fontsize=6, color="dimgray")
    if len(series) > 1:
        ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    # no timestamp in the file, so an unchanged figure gives an unchanged PNG
    fig.savefig(png, metadata={"Software": None})
    plt.close(fig)
    return "![%s](%s)" % (title, rel)
