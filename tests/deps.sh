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
have promtool || need+=(prometheus)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]} and not root: install them with apt-get" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # the tests run their own Prometheus on loopback: the package's service must not start (nor stay running)
  rc_guard=""
  if [[ " ${need[*]} " == *" prometheus "* && ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && rc_guard=1
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [[ -n "$rc_guard" ]]; then rm -f /usr/sbin/policy-rc.d; fi
  if [[ " ${need[*]} " == *" prometheus "* ]]; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
      /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
  fi
fi
