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
# the monitoring test (molecule/colocated) runs Prometheus on loopback and node_exporter on the test hosts
have promtool || need+=(prometheus)
have prometheus-node-exporter || need+=(prometheus-node-exporter)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]} and not root: install them with apt-get" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # the tests run their own Prometheus and node_exporter: the packages' services must not start (nor keep running)
  rc_guard=""
  if [[ " ${need[*]} " == *" prometheus"* && ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && rc_guard=1
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [[ -n "$rc_guard" ]]; then rm -f /usr/sbin/policy-rc.d; fi
  for svc in prometheus prometheus-node-exporter; do
    [[ " ${need[*]} " == *" $svc "* ]] || continue
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi
