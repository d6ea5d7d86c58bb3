#!/usr/bin/env bash
# Lint: yamllint, ansible-lint (production profile), role argument specs vs defaults.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
rc=0
echo "=== yamllint"
yamllint --strict . || rc=1
echo "=== ansible-lint (production profile)"
# A private HOME: molecule's prerun installs this collection into ~/.ansible/collections, and a copy left there by an
# earlier run (or another checkout) would be found before .collections and linted instead of this tree.
lint_home=$(mktemp -d)
HOME="$lint_home" ansible-lint --profile production || rc=1
rm -rf "$lint_home"
echo "=== argument specs"
python3 tests/lint/check_argument_specs.py || rc=1
exit $rc
