#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, only when something is missing.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have systemd-nspawn || need+=(systemd-container)
have debootstrap || need+=(debootstrap)
have ssh || need+=(openssh-client)
have ssh-keygen || need+=(openssh-client)
have rsync || need+=(rsync)
have ss || need+=(iproute2)
have git || need+=(git)
have curl || need+=(curl)
have fio || need+=(fio)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]} and not root: install them with apt-get" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
