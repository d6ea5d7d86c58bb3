#!/usr/bin/env bash
# Runs the molecule scenarios in order (or the ones named on the command line). Each scenario destroys its own
# test hosts; whatever happens, every lab is destroyed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIOS_ALL=(smoke default colocated ramdisk scale)
cleanup() { tests/testhosts/testhosts down --all || true; }
trap cleanup EXIT
scenarios=("$@")
((${#scenarios[@]})) || scenarios=("${SCENARIOS_ALL[@]}")
for s in "${scenarios[@]}"; do
  if [ ! -f "molecule/$s/molecule.yml" ]; then
    echo "molecule.sh: scenario $s does not exist yet; skipping" >&2
    continue
  fi
  start=$(date +%s)
  echo "=== molecule test -s $s"
  molecule test -s "$s"
  echo "=== scenario $s passed in $(( $(date +%s) - start ))s"
done
