#!/usr/bin/env bash
# make bench: RAM-disk vs disk on the same 3 local test hosts (lab "rdbench", 127.0.12.1-3 - the ramdisk scenario's
# addresses, so it refuses to run while lab "ramdisk" is up). Installs a 3-member TLS cluster with playbooks/site.yml,
# measures (disk), moves the data dirs onto tmpfs with playbooks/ramdisk.yml, measures again (ramdisk), writes the
# section "RAM-disk vs disk" of docs/benchmarks.md. The lab is destroyed at the end, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python
export ETCDKIT_CACHE="${ETCDKIT_CACHE:-$PWD/.cache}"
TH=tests/testhosts/testhosts
LAB=rdbench
NET=127.0.12
if "$TH" --lab ramdisk status 2>/dev/null | grep -q '"running": true'; then
  echo "bench: lab 'ramdisk' (molecule ramdisk) is running on $NET.x; run the benchmark afterwards" >&2
  exit 1
fi
work=$(mktemp -d)
cleanup() { "$TH" --lab "$LAB" down || true; rm -rf "$work"; }
trap cleanup EXIT

"$TH" --lab "$LAB" --net "$NET" up 3
mkdir -p "$work/inv/group_vars"
"$TH" --lab "$LAB" inventory --group etcd > "$work/inv/hosts.yml"
cat > "$work/inv/group_vars/etcd.yml" <<VARS
---
etcdkit_cache: "$ETCDKIT_CACHE"
etcd_address: "{{ ansible_host }}"
etcd_listen_localhost: false
etcd_version: "3.5.1"
etcd_archive_local_path: "{{ etcdkit_cache }}/artifacts/etcd-v{{ etcd_version }}-linux-amd64.tar.gz"
etcd_archive_local_checksum_file: "{{ etcdkit_cache }}/artifacts/SHA256SUMS"
etcd_tls_local_dir: "{{ etcdkit_cache }}/pki/bench-ramdisk/{{ etcd_cluster_name }}"
etcd_quota_backend_bytes: 268435456
etcd_health_delay: 1
ramdisk_wal_headroom_bytes: 268435456
ramdisk_health_delay: 1
VARS
hosts=$(python3 -c 'import json,sys; print(",".join(h["name"] for h in json.load(sys.stdin)))' < <("$TH" --lab "$LAB" status))
pki="$ETCDKIT_CACHE/pki/bench-ramdisk/etcd"

ansible-playbook -i "$work/inv" playbooks/site.yml
python3 tests/bench/ramdisk_bench.py measure --mode disk --lab "$LAB" --hosts "$hosts" --pki "$pki" --out "$work/disk.json"
ansible-playbook -i "$work/inv" playbooks/ramdisk.yml
python3 tests/bench/ramdisk_bench.py measure --mode ramdisk --lab "$LAB" --hosts "$hosts" --pki "$pki" --out "$work/ramdisk.json"
python3 tests/bench/ramdisk_bench.py report --disk "$work/disk.json" --ramdisk "$work/ramdisk.json" \
  --doc docs/benchmarks.md --command "make bench (tests/bench/run.sh)"
