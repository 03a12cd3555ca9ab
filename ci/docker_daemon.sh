#!/usr/bin/env bash
# A throwaway Docker daemon for CI: its own data root, run folder, socket and config, no bridge,
# no iptables rules, so it changes nothing on the machine and no container traffic leaves loopback
# (builds and containers use --network host).
#
#   bash ci/docker_daemon.sh start    # prints DOCKER_HOST=unix://...; exit 3 (reason on stderr) if it cannot run
#   bash ci/docker_daemon.sh stop     # stops it by its pid, ends what it left, unmounts its mounts
#   bash ci/docker_daemon.sh status
#
# Installs Debian's docker.io with apt-get when dockerd is missing (root only).
# The image store ($CI_DOCKER_DATA) is kept between runs as a build cache; OBJDET_DOCKER_FRESH=1 wipes it.
set -euo pipefail
. "$(dirname "$0")/common.sh"

PIDFILE=$CI_DOCKER_RUN/dockerd.pid
LOG=$CI_DOCKER_RUN/dockerd.log
CANNOT=3

cannot() { say "cannot start a Docker daemon: $*"; exit "$CANNOT"; }

running_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

install_docker() {
  [ "$(id -u)" -eq 0 ] || cannot "dockerd is not installed and installing docker.io needs root"
  command -v apt-get >/dev/null || cannot "dockerd is not installed and there is no apt-get"
  say "installing Debian's docker.io (dockerd, containerd, runc)"
  # Keep the package's own service from starting a second, system-wide daemon during the install.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local ok=0
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null 2>&1 ||
     { apt-get update -qq >/dev/null 2>&1 &&
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null 2>&1; }; then
    ok=1
  fi
  [ "$made_policy" -eq 0 ] || rm -f "$policy"
  [ "$ok" -eq 1 ] || cannot "apt-get install docker.io failed"
}

unmount_under() {  # every mount point below the given folders, deepest first
  local dir mp
  for dir in "$@"; do
    [ -d "$dir" ] || continue
    awk -v d="$(realpath "$dir")/" 'index($5 "/", d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
      while read -r mp; do umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true; done
  done
}

leftover_pids() {  # processes (containerd, shims) whose command line names our run folder
  local p
  for p in /proc/[0-9]*; do
    if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q -- "$CI_DOCKER_RUN/"; then echo "${p#/proc/}"; fi
  done
  return 0
}

start() {
  local pid
  if pid=$(running_pid); then
    say "already running (pid $pid)"
    echo "DOCKER_HOST=unix://$CI_DOCKER_SOCK"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || cannot "dockerd needs root"
  command -v dockerd >/dev/null 2>&1 || install_docker
  command -v dockerd >/dev/null 2>&1 || cannot "no dockerd after installing docker.io"
  command -v docker >/dev/null 2>&1 || cannot "no docker client"
  [ -d /sys/fs/cgroup ] || cannot "no cgroup file system"

  # A run folder left by a killed run: end its processes and mounts first.
  stop_quietly
  if [ "${OBJDET_DOCKER_FRESH:-0}" = 1 ]; then
    unmount_under "$CI_DOCKER_DATA"
    rm -rf "$CI_DOCKER_DATA"
  fi
  mkdir -p "$CI_DOCKER_RUN" "$CI_DOCKER_DATA"
  echo '{}' > "$CI_DOCKER_RUN/daemon.json"  # not the machine's /etc/docker/daemon.json
  setsid dockerd \
    --config-file "$CI_DOCKER_RUN/daemon.json" \
    --data-root "$CI_DOCKER_DATA" \
    --exec-root "$CI_DOCKER_RUN/exec" \
    --pidfile "$PIDFILE" \
    -H "unix://$CI_DOCKER_SOCK" \
    --bridge none --iptables=false --ip6tables=false --ip-masq=false \
    --userland-proxy=false \
    >"$LOG" 2>&1 < /dev/null &
  local launched=$! waited=0
  until DOCKER_HOST="unix://$CI_DOCKER_SOCK" docker version >/dev/null 2>&1; do
    if ! kill -0 "$launched" 2>/dev/null; then
      tail -n 5 "$LOG" >&2 || true
      stop_quietly
      cannot "dockerd exited at start (log above)"
    fi
    if [ "$waited" -ge 60 ]; then
      tail -n 5 "$LOG" >&2 || true
      stop_quietly
      cannot "dockerd did not answer within 60 s"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "dockerd $(DOCKER_HOST="unix://$CI_DOCKER_SOCK" docker version -f '{{.Server.Version}}') running (pid $launched), data root $CI_DOCKER_DATA"
  echo "DOCKER_HOST=unix://$CI_DOCKER_SOCK"
}

stop_quietly() {
  local pid i p
  if pid=$(running_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  for p in $(leftover_pids); do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in $(leftover_pids); do kill -KILL "$p" 2>/dev/null || true; done
  unmount_under "$CI_DOCKER_RUN" "$CI_DOCKER_DATA"
  rm -f "$PIDFILE" "$CI_DOCKER_SOCK"
  rm -rf "$CI_DOCKER_RUN/exec"
}

stop() {
  stop_quietly
  say "stopped"
}

status() {
  local pid
  if pid=$(running_pid); then echo "running (pid $pid) DOCKER_HOST=unix://$CI_DOCKER_SOCK"; else echo "not running"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
