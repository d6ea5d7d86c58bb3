#!/usr/bin/env bash
# ansible-test sanity for etcdkit.etcd, run from a temporary ansible_collections/etcdkit/etcd tree.
#
# Usage: tests/sanity/run.sh [extra ansible-test sanity args, e.g. --test pep8]
# Runs every sanity test ansible-test enables by default for a collection (ansible-doc, compile, import, pep8, pylint,
# validate-modules, yamllint, shebang, line-endings, runtime-metadata, ...); shellcheck only when installed.
# Exits non-zero when any test fails. Known exceptions: tests/sanity/ignore-<ansible-core version>.txt.
# Env:   SANITY_MODE=venv|local (default venv: ansible-test builds one virtualenv per test with its pinned linters,
#        installed from PyPI on first use and cached under $SANITY_HOME, default .cache/sanity-home;
#        local: use the linters already installed in the current environment, nothing is installed)
#        SANITY_KEEP=1 keeps the temporary tree (its path is printed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_BIN="${ROOT}/.venv/bin"
ANSIBLE_TEST="${VENV_BIN}/ansible-test"
[[ -x "${ANSIBLE_TEST}" ]] || ANSIBLE_TEST="$(command -v ansible-test)"
PYVER="${SANITY_PYTHON:-3.11}"
MODE="${SANITY_MODE:-venv}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/etcdkit-sanity.XXXXXX")"
cleanup() {
  if [[ "${SANITY_KEEP:-0}" == 1 ]]; then echo "kept ${WORK}" >&2; else rm -rf "${WORK}"; fi
}
trap cleanup EXIT

DEST="${WORK}/ansible_collections/etcdkit/etcd"
mkdir -p "${DEST}"

# Tracked files plus new files not ignored by .gitignore (so uncommitted work is checked too), minus the local-only
# trees and the developer tooling that is not part of the collection (galaxy.yml build_ignore: test hosts, artifact
# builder, benchmarks, lint scripts, molecule, CI). The collection content, tests/unit and tests/integration are checked.
# Deleted-but-tracked files are skipped.
EXCLUDE_RE='^(\.venv|\.cache|\.collections|\.git|\.ci|tests/output|tests/testhosts|tests/artifacts|tests/bench|tests/lint|molecule|bench)(/|$)'
cd "${ROOT}"
git ls-files -z --cached --others --exclude-standard \
  | grep -zvE "${EXCLUDE_RE}" \
  | while IFS= read -r -d '' f; do [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"; done \
  | sort -zu \
  | tar --null -T - -cf - \
  | tar -xf - -C "${DEST}"

# ansible-test wants to see a git repository to list the collection's files the same way as in the checkout.
git -C "${DEST}" init -q
git -C "${DEST}" add -A >/dev/null
git -C "${DEST}" -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity --no-gpg-sign

# ansible-test keeps its virtualenvs and caches under $HOME/.ansible/test: keep them in the project cache, and give
# it an offline pip bootstrap (its own one is downloaded from a host that is not reachable here).
export HOME="${SANITY_HOME:-${ROOT}/.cache/sanity-home}"
PIP_VER="$("${VENV_BIN}/python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)"
mkdir -p "${HOME}/.ansible/test/cache"
cp "${ROOT}/tests/sanity/get_pip_offline.py" "${HOME}/.ansible/test/cache/get_pip_${PIP_VER//./_}.py"

cd "${DEST}"
export PATH="${VENV_BIN}:${PATH}"
export ANSIBLE_FORCE_COLOR=false

ARGS=(sanity --python "${PYVER}" --color no)
if [[ "${MODE}" == venv ]]; then
  ARGS+=(--venv)
else
  ARGS+=(--local)
fi

echo "ansible-test ${ARGS[*]} $* (in ${DEST})" >&2
"${ANSIBLE_TEST}" "${ARGS[@]}" "$@"
