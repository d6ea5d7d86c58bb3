#!/usr/bin/env bash
# make demo: boot 3 local test hosts (lab "etcd", 127.0.10.1-3), install a 3-member TLS etcd cluster with
# playbooks/site.yml, then show the member list and an endpoint status table from a node (etcdctl reads
# /etc/etcd/etcd/etcdctl.env: no flags needed). The hosts stay up; `make demo-down` destroys them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
export ETCDKIT_CACHE="${ETCDKIT_CACHE:-$PWD/.cache}"
TH=tests/testhosts/testhosts

"$TH" --lab etcd --net 127.0.10 up 3
start=$(date +%s)
ansible-playbook -i inventories/local playbooks/site.yml
echo "=== site.yml converged in $(( $(date +%s) - start ))s"
echo
echo "=== etcdctl member list -w table   (on etcd1)"
"$TH" --lab etcd ssh etcd1 etcdctl member list -w table
echo
echo "=== etcdctl endpoint status --cluster -w table   (on etcd1)"
"$TH" --lab etcd ssh etcd1 etcdctl endpoint status --cluster -w table
echo
echo "=== etcdctl endpoint health --cluster   (on etcd1)"
"$TH" --lab etcd ssh etcd1 etcdctl endpoint health --cluster
echo
echo "The hosts stay up: '$TH --lab etcd ssh etcd1' for a shell, 'make demo-down' to destroy them."
