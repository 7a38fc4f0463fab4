#!/usr/bin/env bash
# Makes sure a Docker engine answers, and prints the DOCKER_HOST to use.
#
#   eval "$(ci/dockerd.sh)"      # exports DOCKER_HOST
#   ci/dockerd.sh --stop         # stops the engine this script started (by its pidfile)
#
# If the engine named by $DOCKER_HOST (or the default socket) answers, it is used
# as is. Otherwise Debian's dockerd (package docker.io, installed if missing) is
# started with its own socket, data root and pidfile under /run/kubestall and
# /var/lib/kubestall, so it never disturbs another engine on the machine.
set -euo pipefail

RUN_DIR=/run/kubestall
SOCK="unix://$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/dockerd.pid"
LOG=/var/log/kubestall-dockerd.log

say() { printf 'dockerd.sh: %s\n' "$*" >&2; }

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    pid=$(cat "$PIDFILE")
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    say "stopped dockerd (pid $pid)"
  else
    say "no dockerd started by this script is running"
  fi
  exit 0
fi

answers() { DOCKER_HOST="$1" timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

for host in "${DOCKER_HOST:-}" "$SOCK" "unix:///var/run/docker.sock"; do
  if [ -n "$host" ] && answers "$host"; then
    echo "export DOCKER_HOST=$host"
    exit 0
  fi
done

if [ "$(id -u)" != 0 ]; then
  say "no Docker engine answers and starting one needs root: run 'sudo $0', or start Docker and set DOCKER_HOST"
  exit 3
fi

if ! command -v dockerd >/dev/null 2>&1; then
  say "installing docker.io (Debian's Docker engine)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >&2 || {
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >&2
  }
fi

mkdir -p "$RUN_DIR" /var/lib/kubestall/docker
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  say "dockerd (pid $(cat "$PIDFILE")) is starting; waiting for it"
else
  rm -f "$PIDFILE"
  say "starting dockerd (log: $LOG)"
  # setsid: the engine outlives this script and the shell that ran it.
  setsid dockerd \
    --host "$SOCK" \
    --data-root /var/lib/kubestall/docker \
    --exec-root "$RUN_DIR/docker-exec" \
    --pidfile "$PIDFILE" \
    >>"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq 1 300); do
  if answers "$SOCK"; then
    echo "export DOCKER_HOST=$SOCK"
    exit 0
  fi
  sleep 0.2
done
say "dockerd did not answer within 60 s; the last lines of $LOG:"
tail -n 20 "$LOG" >&2 || true
exit 3
