#!/usr/bin/env bash
# Runs the molecule scenarios in order (or the ones named on the command line). Each scenario destroys its own
# test hosts; whatever happens, the lab of every scenario run here (its first platform's name without the digits,
# as molecule/shared/create.yml names it) is destroyed at the end, and no other lab is touched (`.ci/run` destroys
# every lab on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIOS_ALL=(smoke default colocated ramdisk ramdisk-faults scale dr maintenance upgrade rotate)
scenarios=("$@")
((${#scenarios[@]})) || scenarios=("${SCENARIOS_ALL[@]}")
lab_of() { sed -n 's/^  - name: \([a-z-]*\)[0-9]*$/\1/p' "molecule/$1/molecule.yml" | head -n 1; }
cleanup() {
  local s lab
  for s in "${scenarios[@]}"; do
    [ -f "molecule/$s/molecule.yml" ] || continue
    lab=$(lab_of "$s")
    [ -n "$lab" ] && tests/testhosts/testhosts --lab "$lab" down >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
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
