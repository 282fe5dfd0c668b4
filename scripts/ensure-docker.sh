#!/usr/bin/env bash
# One entry point: make sure Docker and the wfobj/toolbox:local image are ready.
#
#   eval "$(scripts/ensure-docker.sh)"     # sets DOCKER_HOST
#
# 1. installs docker.io and busybox-static with apt-get when missing (root only;
#    otherwise says what to install),
# 2. finds or starts a daemon (scripts/dockerd.sh),
# 3. builds the toolbox image if absent (scripts/build-toolbox-image.sh).
# Only the `export DOCKER_HOST=...` line goes to stdout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
say() { printf 'ensure-docker.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
trap 'say "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

static_busybox_ok() {
    [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1
}

missing=()
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    # Not needed when a daemon is already reachable and a client exists.
    if ! { command -v docker >/dev/null 2>&1 &&
        timeout 10 docker version >/dev/null 2>&1 </dev/null; }; then
        missing+=(docker.io)
    fi
fi
if [ -z "${WFOBJ_BUSYBOX:-}" ] && ! static_busybox_ok; then
    missing+=(busybox-static)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        die "missing packages: ${missing[*]}; install them as root: apt-get install -y ${missing[*]}"
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages: ${missing[*]}, and apt-get is not available to install them"
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2
fi

export_line="$("$HERE/dockerd.sh")"
case "$export_line" in
    "export DOCKER_HOST="*) ;;
    *) die "unexpected output from dockerd.sh: $export_line" ;;
esac
eval "$export_line"
export DOCKER_HOST

"$HERE/build-toolbox-image.sh" >&2
echo "export DOCKER_HOST=$DOCKER_HOST"
