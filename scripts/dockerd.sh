#!/usr/bin/env bash
# Start (or find) a Docker daemon for wfobj and print how to reach it.
#
#   eval "$(scripts/dockerd.sh)"     # sets DOCKER_HOST
#   scripts/dockerd.sh --stop        # stops the daemon this script started
#
# If a daemon already answers at $DOCKER_HOST (or, when DOCKER_HOST is unset, at
# the default socket), nothing is started. Otherwise dockerd runs in the
# background on a private socket under ${WFOBJ_DOCKER_DIR:-/tmp/wfobj-docker},
# without iptables and without the default bridge (containers get
# --network none or host networking only), logging to $DIR/dockerd.log.
#
# Only the `export DOCKER_HOST=...` line goes to stdout; everything else goes to
# stderr.
#
# Environment:
#   WFOBJ_DOCKER_DIR             work folder (default /tmp/wfobj-docker)
#   WFOBJ_DOCKER_WAIT            seconds to wait for the daemon (default 30)
#   WFOBJ_DOCKER_STORAGE_DRIVER  force a storage driver (default: dockerd's own
#                                choice, then vfs if that fails to start)
set -euo pipefail

DIR="${WFOBJ_DOCKER_DIR:-/tmp/wfobj-docker}"
SOCK="$DIR/docker.sock"
PRIVATE_HOST="unix://$SOCK"
PIDFILE="$DIR/dockerd.pid"
LOG="$DIR/dockerd.log"
WAIT="${WFOBJ_DOCKER_WAIT:-30}"
DEFAULT_HOST="unix:///var/run/docker.sock"

say() { printf 'dockerd.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
trap 'say "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

# answers HOST: true when a Docker daemon answers at HOST.
answers() {
    command -v docker >/dev/null 2>&1 || return 1
    DOCKER_HOST="$1" timeout 10 docker version --format '{{.Server.Version}}' \
        >/dev/null 2>&1 </dev/null
}

# our_pid: print the pid of the dockerd this script started, if it is alive.
our_pid() {
    local pid
    [ -s "$PIDFILE" ] || return 1
    pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # guard against pid reuse: the process must be a dockerd
    grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

stop_daemon() {
    local pid i
    if ! pid="$(our_pid)"; then
        say "no dockerd started by this script is running (pidfile $PIDFILE)"
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "dockerd did not stop within 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$PIDFILE"
    say "stopped"
}

# start_daemon [STORAGE_DRIVER]: start dockerd and wait until it answers.
start_daemon() {
    local driver="${1:-}" pid i
    local args=(
        --host "$PRIVATE_HOST"
        --data-root "$DIR/data"
        --exec-root "$DIR/exec"
        --pidfile "$PIDFILE"
        --iptables=false
        --ip-masq=false
        --bridge=none
    )
    [ -n "$driver" ] && args+=(--storage-driver "$driver")
    mkdir -p "$DIR"
    rm -f "$PIDFILE"
    say "starting dockerd ${driver:+(storage driver $driver) }on $PRIVATE_HOST, log $LOG"
    {
        printf '\n===== %s dockerd %s\n' "$(date -u +%FT%TZ)" "${args[*]}"
    } >>"$LOG"
    # setsid: own session, so the daemon outlives the caller's shell / job group.
    # All fds redirected so that $(scripts/dockerd.sh) does not hang on stdout.
    setsid dockerd "${args[@]}" </dev/null >>"$LOG" 2>&1 &
    pid=$!
    for ((i = 0; i < WAIT * 2; i++)); do
        if answers "$PRIVATE_HOST"; then
            say "dockerd is up (pid $(cat "$PIDFILE" 2>/dev/null || echo "$pid"))"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            say "dockerd exited during start-up; last log lines:"
            tail -n 15 "$LOG" >&2 || true
            return 1
        fi
        sleep 0.5
    done
    say "dockerd did not answer within ${WAIT} s; last log lines:"
    tail -n 15 "$LOG" >&2 || true
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
    return 1
}

case "${1:-}" in
    --stop) stop_daemon; exit 0 ;;
    "") ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $1 (use --stop or no argument)" ;;
esac

# 1. A daemon the caller already has.
if [ -n "${DOCKER_HOST:-}" ]; then
    if answers "$DOCKER_HOST"; then
        say "using the Docker daemon at DOCKER_HOST=$DOCKER_HOST"
        echo "export DOCKER_HOST=$DOCKER_HOST"
        exit 0
    fi
    [ "$DOCKER_HOST" = "$PRIVATE_HOST" ] ||
        say "no daemon answers at DOCKER_HOST=$DOCKER_HOST; using a private one"
elif answers "$DEFAULT_HOST"; then
    say "using the Docker daemon at the default socket"
    echo "export DOCKER_HOST=$DEFAULT_HOST"
    exit 0
fi

# 2. The private daemon from an earlier call.
if answers "$PRIVATE_HOST"; then
    say "using the private dockerd already running at $PRIVATE_HOST"
    echo "export DOCKER_HOST=$PRIVATE_HOST"
    exit 0
fi
if pid="$(our_pid)"; then
    # Running but not answering (still starting, or wedged): give it the wait
    # period, then replace it.
    say "dockerd pid $pid exists but does not answer yet; waiting"
    for ((i = 0; i < WAIT * 2; i++)); do
        if answers "$PRIVATE_HOST"; then
            echo "export DOCKER_HOST=$PRIVATE_HOST"
            exit 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    say "dockerd pid $pid still does not answer; restarting it"
    stop_daemon
fi

# 3. Start one.
command -v dockerd >/dev/null 2>&1 ||
    die "dockerd is not installed (Debian/Ubuntu: apt-get install docker.io; or run scripts/ensure-docker.sh as root)"
command -v docker >/dev/null 2>&1 ||
    die "the docker client is not installed (Debian/Ubuntu: apt-get install docker.io)"
[ "$(id -u)" -eq 0 ] ||
    die "starting dockerd needs root; run as root or set DOCKER_HOST to a running daemon"

if [ -n "${WFOBJ_DOCKER_STORAGE_DRIVER:-}" ]; then
    start_daemon "$WFOBJ_DOCKER_STORAGE_DRIVER" || die "dockerd failed to start (see $LOG)"
elif ! start_daemon; then
    # Typical in nested sandboxes: overlay2 cannot mount on the backing fs.
    say "retrying with the vfs storage driver (slow but works everywhere)"
    start_daemon vfs || die "dockerd failed to start, also with vfs (see $LOG)"
fi
echo "export DOCKER_HOST=$PRIVATE_HOST"
