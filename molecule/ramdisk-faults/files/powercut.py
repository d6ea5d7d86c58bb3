#!/usr/bin/env python3
"""Test fixture of the ramdisk-faults scenario: cut the power of a test host in the middle of a RAM-disk save or
copy-in, deterministically.

  powercut.py --lab LAB HOST save      poweroff (as `testhosts stop`); once the save (ExecStopPost) has created its
                                       `.tmp-gen-*` directory, freeze the helper (SIGSTOP) and cut the power.
  powercut.py --lab LAB HOST copy-in   boot the stopped host (as `testhosts start`); once the copy-in (ExecStartPre)
                                       has created its `.ramdisk-in-*` directory in the tmpfs, freeze the helper and
                                       cut the power.

The helper process is stopped (SIGSTOP) as soon as it appears and then let run in slices of 2 ms until its partial
directory exists; the script checks the clean mark is as it must be (absent for a save, present for a copy-in)
and cuts the power. So the cut lands inside the operation, however fast it is and however loaded the machine. The
power cut is the testhosts crash (SIGKILL to the host's init). Prints JSON.
"""
import argparse
import importlib.machinery
import importlib.util
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
TESTHOSTS = os.path.join(HERE, "..", "..", "..", "tests", "testhosts", "testhosts")


def load_testhosts():
    loader = importlib.machinery.SourceFileLoader("testhosts", TESTHOSTS)
    spec = importlib.util.spec_from_loader("testhosts", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def helper_pids(init, verb):
    """The RAM-disk helper processes of ``verb`` inside the host: in the PID namespace of its init (the
    processes' /proc/PID/root does not name the host's root from outside its mount namespace)."""
    ns = os.readlink("/proc/%d/ns/pid" % init)
    if ns == os.readlink("/proc/self/ns/pid"):
        return []  # not the host's init yet (nspawn's intermediate child): never touch the controller's processes
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/ns/pid" % entry) != ns:
                continue
            argv = open("/proc/%s/cmdline" % entry, "rb").read().split(b"\0")
        except OSError:
            continue
        if verb.encode() in argv and any(b"etcd-ramdisk" in a or b"etcd_ramdisk" in a for a in argv):
            found.append(int(entry))
    return found


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def partial(root, prefix):
    try:
        return sorted(n for n in os.listdir(root) if n.startswith(prefix))
    except OSError:
        return []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lab", required=True)
    parser.add_argument("--state-dir", default="/var/lib/etcdkit-ramdisk/etcd")
    parser.add_argument("--data-dir", default="/var/lib/etcd")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("host")
    parser.add_argument("during", choices=["save", "copy-in"])
    args = parser.parse_args()
    th = load_testhosts()
    host = th.Lab(args.lab).by_name(args.host)
    if args.during == "save":
        nspawn = host.nspawn_pid()
        if nspawn is None:
            raise SystemExit("%s is not running" % host.name)
        verb, prefix, where, mark_expected = "poststop", ".tmp-gen-", args.state_dir, False
        # the leftover of an earlier cut save is no sign of this one
        before = set(partial("/proc/%d/root%s" % (host.init_pid(nspawn), where), prefix))
        os.kill(nspawn, signal.SIGTERM)  # an orderly poweroff, as `testhosts stop`
    else:
        if host.running():
            raise SystemExit("%s must be stopped (cleanly) first" % host.name)
        verb, prefix, where, mark_expected = "prestart", ".ramdisk-in-", args.data_dir, True
        before = set()
        host.spawn()
        nspawn = host.nspawn_pid()
    deadline = time.monotonic() + args.timeout

    def expired():
        if time.monotonic() > deadline or host.nspawn_pid() is None:
            if host.running():
                host.crash()
            raise SystemExit("%s: the %s did not run or ended before it was half-way" % (host.name, verb))

    # find the helper process and stop it at once; then let it run in slices of a few milliseconds until its partial
    # directory exists: the cut lands inside the operation, however fast it is and however loaded the machine
    pid = init = None
    while pid is None:
        expired()
        init = host.init_pid(nspawn)  # nspawn's first child is an intermediate process for a moment at boot
        pids = helper_pids(init, verb) if init else []
        if pids:
            pid = pids[0]
            os.kill(pid, signal.SIGSTOP)
        else:
            time.sleep(0.002)
    frozen = [pid]
    root = "/proc/%d/root%s" % (init, where)
    while not set(partial(root, prefix)) - before:
        expired()
        if not alive(pid):
            host.crash()
            raise SystemExit("%s: the %s ended before its %s* directory was seen" % (host.name, verb, prefix))
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.002)
        os.kill(pid, signal.SIGSTOP)
    left = sorted(set(partial(root, prefix)) - before)
    mark = os.path.exists("/proc/%d/root%s/clean.json" % (init, args.state_dir))
    host.crash()
    result = {"host": host.name, "during": args.during, "frozen": frozen, "partial": left, "clean_mark": mark}
    print(json.dumps(result, sort_keys=True))
    if not frozen or not left or mark != mark_expected:
        print("the power cut did not land inside the %s" % args.during, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
