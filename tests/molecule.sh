#!/usr/bin/env bash
# Runs the molecule scenarios (all of them, or the ones named on the command line).
#
# MOLECULE_JOBS=N (default 2) runs the scenarios in N lanes side by side: every scenario boots its own lab on its
# own 127.0.X net, so two lanes never share a test host (smoke and default share 127.0.10 and always run in the
# same lane). Scenarios go to lanes longest first (the weights below are the seconds one scenario took on a quiet
# machine); a lane runs its scenarios one after the other and stops at its first failure. Each scenario's output
# goes to tests/output/molecule-<scenario>.log; a failed scenario's whole log is printed, a passed one's recap.
# MOLECULE_KEEP_GOING=1: a lane goes on after a failed scenario. MOLECULE_DRY=1 prints the lanes and runs nothing. MOLECULE_JOBS=1 runs everything in this shell, in order, with the output live.
#
# Each scenario destroys its own test hosts; whatever happens, the lab of every scenario run here (its first
# platform's name without the digits, as molecule/shared/create.yml names it) is destroyed at the end, and no other
# lab is touched (`.ci/run` destroys every lab on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIOS_ALL=(smoke default colocated ramdisk dr scale rotate upgrade maintenance ramdisk-faults)
# seconds of one scenario in a two-lane run (measured 2026-11-22 with other labs running; lanes are balanced on these)
declare -A WEIGHT=([smoke]=60 [default]=400 [colocated]=630 [ramdisk]=507 [scale]=540 [dr]=500 [maintenance]=330
  [rotate]=480 [upgrade]=430 [ramdisk-faults]=450)
wanted=("$@")
((${#wanted[@]})) || wanted=("${SCENARIOS_ALL[@]}")
scenarios=()
for s in "${wanted[@]}"; do
  if [ -f "molecule/$s/molecule.yml" ]; then
    scenarios+=("$s")
  else
    echo "molecule.sh: scenario $s does not exist; skipping" >&2
  fi
done
((${#scenarios[@]})) || exit 0

lab_of() { sed -n 's/^  - name: \([a-z-]*[a-z]\)[0-9]*$/\1/p' "molecule/$1/molecule.yml" | head -n 1; }
cleanup() {
  local s lab
  for s in "${scenarios[@]}"; do
    lab=$(lab_of "$s")
    [ -n "$lab" ] && tests/testhosts/testhosts --lab "$lab" down >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

run_one() { # scenario -> rc; output to stdout
  local s=$1 start rc=0
  start=$(date +%s)
  echo "=== molecule test -s $s ($(date -u +%H:%M:%S))"
  molecule test -s "$s" || rc=$?
  if ((rc == 0)); then
    echo "=== scenario $s passed in $(($(date +%s) - start))s"
  else
    echo "=== scenario $s FAILED (rc $rc) after $(($(date +%s) - start))s"
  fi
  return $rc
}

jobs=${MOLECULE_JOBS:-2}
if ((jobs <= 1 || ${#scenarios[@]} == 1)); then
  for s in "${scenarios[@]}"; do run_one "$s"; done
  exit 0
fi

# Lanes: smoke and default form one unit (same net); units longest first onto the lightest lane.
units=() weights=()
for s in "${scenarios[@]}"; do
  w=${WEIGHT[$s]:-200}
  if [[ $s == smoke || $s == default ]]; then
    found=
    for i in "${!units[@]}"; do
      if [[ " ${units[$i]} " == *" smoke "* || " ${units[$i]} " == *" default "* ]]; then
        units[i]="${units[$i]} $s"; weights[i]=$((weights[i] + w)); found=1
      fi
    done
    [ -n "$found" ] && continue
  fi
  units+=("$s") weights+=("$w")
done
declare -a lane lane_w
for ((l = 0; l < jobs; l++)); do lane[l]="" lane_w[l]=0; done
while read -r _ i; do
  best=0
  for ((l = 1; l < jobs; l++)); do ((lane_w[l] < lane_w[best])) && best=$l; done
  lane[best]="${lane[$best]} ${units[$i]}"; lane_w[best]=$((lane_w[best] + weights[i]))
done < <(for i in "${!units[@]}"; do echo "${weights[$i]} $i"; done | sort -rn)

if [ -n "${MOLECULE_DRY:-}" ]; then # print the lanes only
  for ((l = 0; l < jobs; l++)); do echo "lane $((l + 1)):${lane[$l]} (about ${lane_w[$l]}s)"; done
  exit 0
fi
mkdir -p tests/output
pids=()
for ((l = 0; l < jobs; l++)); do
  [ -n "${lane[$l]// /}" ] || continue
  echo "=== lane $((l + 1)):${lane[$l]} (about ${lane_w[$l]}s)"
  (
    # keep the scenario order of the command line inside a lane
    for s in "${scenarios[@]}"; do
      [[ " ${lane[$l]} " == *" $s "* ]] || continue
      log=tests/output/molecule-$s.log
      if run_one "$s" >"$log" 2>&1; then
        tail -n 1 "$log"
      else
        echo "=== lane $((l + 1)): scenario $s failed; its log (${log}):"
        cat "$log"
        failed=1
        [ -n "${MOLECULE_KEEP_GOING:-}" ] || exit 1
      fi
    done
    exit "${failed:-0}"
  ) &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
if ((rc == 0)); then echo "=== molecule: all ${#scenarios[@]} scenarios passed"; else echo "=== molecule: FAILED"; fi
exit $rc
