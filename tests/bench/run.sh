#!/usr/bin/env bash
# make bench: every benchmark of docs/benchmarks.md on 3 local test hosts (lab "bench", 127.0.29.1-3), each figure
# next to its peer in the same run. Writes the marked sections of docs/benchmarks.md, the PNG plots in docs/img/ and
# the raw results in docs/benchmarks-*.json. The lab is destroyed at the end, pass or fail.
#
#   BENCH="converge snapshot defrag loadgen ramdisk" (default: all, in this order; "ops" = snapshot defrag) chooses
#   the parts:
#   converge  fresh converge, no-op re-run and check mode of playbooks/site.yml (new hosts, new controller PKI)
#   snapshot  etcd_snapshot/etcd_restore vs etcdctl/etcdutl on a ~512 MiB database (tests/bench/ops_bench.py)
#   defrag    a rolling defrag of the fragmented database under a fixed-rate client load (tests/bench/ops_bench.py)
#   loadgen   the load generator vs `etcdctl check perf` vs the per-key `etcdctl put` loop, on a second, plain-http
#             cluster on the same hosts (the latency sniffer reads cleartext HTTP/2; tests/bench/loadgen_bench.py)
#   ramdisk   the TLS cluster on disk, then moved onto tmpfs by playbooks/ramdisk.yml (tests/bench/ramdisk_bench.py)
#   LOADGEN_REPEAT (default 2) sets of the load-generator comparison; SNAPSHOT_REPEAT (default 3) rounds of the
#   snapshot comparison. Every part keeps its raw results with its own date, machine, versions and command in
#   docs/benchmarks-<part>.json; the report (and tests/bench/summary.py's table of the issue's targets) is rebuilt
#   from all of them, so a part re-measured alone does not drop the others.
#   BENCH_KEEP=1 keeps the lab (and its clusters) after the run and reuses a running one, so the parts can run one
#   at a time, each in its own short run-locked call (`BENCH=converge BENCH_KEEP=1 make bench`, then
#   `BENCH=ops ...`); the last call without BENCH_KEEP (or `testhosts --lab bench down`) removes it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python
export ETCDKIT_CACHE="${ETCDKIT_CACHE:-$PWD/.cache}"
TH=tests/testhosts/testhosts
LAB=bench
NET=127.0.29
PARTS=" ${BENCH:-converge snapshot defrag loadgen ramdisk} "
PARTS=${PARTS/ ops / snapshot defrag }
want() { [[ $PARTS == *" $1 "* ]]; }
work=$(mktemp -d)
cleanup() { [[ ${BENCH_KEEP:-} == 1 ]] || "$TH" --lab "$LAB" down || true; rm -rf "$work"; }
trap cleanup EXIT

# a fresh converge needs fresh hosts; otherwise a kept lab (BENCH_KEEP=1) is reused as it is
want converge && "$TH" --lab "$LAB" down
"$TH" --lab "$LAB" --net "$NET" up 3
mkdir -p "$work/inv/group_vars"
"$TH" --lab "$LAB" inventory --group etcd > "$work/inv/hosts.yml"
version=$(cat "$ETCDKIT_CACHE/artifacts/NEWEST")
pki="$ETCDKIT_CACHE/pki/bench/etcd"
cat > "$work/inv/group_vars/etcd.yml" <<VARS
---
etcdkit_cache: "$ETCDKIT_CACHE"
etcd_address: "{{ ansible_host }}"
etcd_listen_localhost: false
etcd_version: "$version"
etcd_archive_local_path: "{{ etcdkit_cache }}/artifacts/etcd-v{{ etcd_version }}-linux-amd64.tar.gz"
etcd_archive_local_checksum_file: "{{ etcdkit_cache }}/artifacts/SHA256SUMS"
etcd_tls_local_dir: "{{ etcdkit_cache }}/pki/bench/{{ etcd_cluster_name }}"
etcd_quota_backend_bytes: 2147483648
etcd_health_delay: 1
ramdisk_wal_headroom_bytes: 268435456
ramdisk_health_delay: 1
VARS
hosts=$(python3 -c 'import json,sys; print(",".join(h["name"] for h in json.load(sys.stdin)))' < <("$TH" --lab "$LAB" status))
python3 -c 'import datetime, json, sys; print(json.dumps({"lab": "bench", "etcd_version": sys.argv[1], "ansible": sys.argv[2], "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC (start)")}))' \
  "$version" "$(python3 -c 'from ansible.release import __version__; print("ansible-core " + __version__)')" > "$work/meta.json"
parts=$(echo $PARTS)
export BENCH_COMMAND="BENCH=\"$parts\" make bench"
cmd=$BENCH_COMMAND

if want converge; then
  python3 tests/bench/ops_bench.py converge --inv "$work/inv" --pki "$pki" --out docs/benchmarks-converge.json
elif want snapshot || want defrag || want ramdisk; then
  ansible-playbook -i "$work/inv" playbooks/site.yml
fi
if want snapshot; then
  python3 tests/bench/ops_bench.py snapshot --lab "$LAB" --inv "$work/inv" --hosts "$hosts" --pki "$pki" \
    --repeat "${SNAPSHOT_REPEAT:-3}" --out docs/benchmarks-snapshot.json
fi
if want defrag; then
  python3 tests/bench/ops_bench.py defrag --lab "$LAB" --inv "$work/inv" --hosts "$hosts" --pki "$pki" \
    --out docs/benchmarks-defrag.json
fi
if want defrag; then
  # the bench's own keys go again before the next parts (the snapshot part leaves its ~512 MiB for defrag)
  # (the role's etcdctl wrapper sets ETCDCTL_COMMAND_TIMEOUT=10s unless it is set already; etcdctl refuses the
  # --command-timeout flag next to that variable)
  "$TH" --lab "$LAB" ssh "${hosts%%,*}" 'export ETCDCTL_COMMAND_TIMEOUT=300s; etcdctl del --prefix /bench/ >/dev/null &&
    etcdctl compact $(etcdctl endpoint status -w json | python3 -c "import json,sys; print(json.load(sys.stdin)[0][\"Status\"][\"header\"][\"revision\"])") --physical >/dev/null &&
    etcdctl defrag --cluster >/dev/null'
fi
# the section is rebuilt from every part's kept JSON (docs/benchmarks-{converge,snapshot,defrag}.json)
python3 tests/bench/ops_bench.py report --doc docs/benchmarks.md >/dev/null
if want loadgen; then
  # a second, plain-http cluster beside the TLS one (its own name, ports, dirs and unit)
  ansible-playbook -i "$work/inv" playbooks/site.yml -e etcd_cluster_name=plain -e etcd_tls_enabled=false -e etcd_ctl_default=false \
    -e etcd_client_port=2479 -e etcd_peer_port=2480 -e etcd_metrics_port=2481
  eps=$(python3 -c 'import json,sys; print(",".join("http://%s:2479" % h["address"] for h in json.load(sys.stdin)))' \
    < <("$TH" --lab "$LAB" status))
  python3 tests/bench/loadgen_bench.py --endpoints "$eps" --repeat "${LOADGEN_REPEAT:-2}" \
    --out docs/benchmarks-loadgen.json --doc docs/benchmarks.md
fi
if want ramdisk; then
  python3 tests/bench/ramdisk_bench.py measure --mode disk --lab "$LAB" --hosts "$hosts" --pki "$pki" \
    --out "$work/disk.json"
  ansible-playbook -i "$work/inv" playbooks/ramdisk.yml
  python3 tests/bench/ramdisk_bench.py measure --mode ramdisk --lab "$LAB" --hosts "$hosts" --pki "$pki" \
    --out "$work/ramdisk.json"
  python3 -c 'import json,sys; json.dump({"disk": json.load(open(sys.argv[1])), "ramdisk": json.load(open(sys.argv[2])), "meta": json.load(open(sys.argv[3])), "command": sys.argv[4]}, open("docs/benchmarks-ramdisk.json", "w"), indent=2, sort_keys=True)' \
    "$work/disk.json" "$work/ramdisk.json" "$work/meta.json" "$cmd"
fi
if [[ -f docs/benchmarks-ramdisk.json ]]; then
  python3 tests/bench/ramdisk_bench.py report --from docs/benchmarks-ramdisk.json --doc docs/benchmarks.md >/dev/null
fi
python3 tests/bench/summary.py --doc docs/benchmarks.md
