#!/usr/bin/env bash
# The newcomer demo: from a fresh clone to the example workflow run end to end over the API.
#
#   make demo        (or: bash scripts/demo.sh)
#
# 1. sets up what is missing: .venv (pip install -e .), Docker daemon and the local
#    wfobj/toolbox:local image (scripts/ensure-docker.sh),
# 2. starts `wfobj serve` (gunicorn API + one engine worker) on a temporary store, on a free
#    loopback port; the first start writes an admin token into the store folder,
# 3. applies examples/wordcount.yaml, uploads examples/corpus.txt and triggers the workflow
#    with it as the `corpus` file parameter, waits, and prints the run's status and
#    evidence, its files, lineage and audit chain, all through the REST API,
# 4. stops what it started (the server; the Docker daemon too if this script started it)
#    and removes the temporary store (set WFOBJ_DEMO_KEEP=1 to keep it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
die() { printf 'demo.sh: ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. venv -------------------------------------------------------------------------------
PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ] || ! "$PY" -c 'import wfobj.cli.main, falcon, gunicorn' 2>/dev/null; then
    say "setting up .venv (python -m venv, pip install -e .)"
    command -v python3 >/dev/null || die "python3 (3.11 or newer) is needed"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "python3 is $(python3 -V 2>&1); wfobj needs 3.11 or newer"
    [ -x "$PY" ] || python3 -m venv "$ROOT/.venv"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e "$ROOT"
fi
WFOBJ=("$PY" -c 'from wfobj.cli.main import main; main()')

# --- Docker --------------------------------------------------------------------------------
docker_answers() {
    command -v docker >/dev/null 2>&1 &&
        DOCKER_HOST="$1" timeout 10 docker version >/dev/null 2>&1 </dev/null
}
STARTED_DOCKER=0
if ! docker_answers "${DOCKER_HOST:-unix:///var/run/docker.sock}" &&
   ! docker_answers "unix://${WFOBJ_DOCKER_DIR:-/tmp/wfobj-docker}/docker.sock"; then
    STARTED_DOCKER=1
fi
say "making sure Docker and the wfobj/toolbox:local image are ready"
eval "$(bash "$ROOT/scripts/ensure-docker.sh")"
export DOCKER_HOST

# --- 2. serve ------------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wfobj-demo.XXXXXX")"
STORE="$WORK/store"
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SERVER="http://127.0.0.1:$PORT"
SERVE_PID=""

cleanup() {
    status=$?
    if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
        say "stopping wfobj serve (pid $SERVE_PID)"
        kill -TERM "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
    fi
    if [ "$STARTED_DOCKER" = 1 ]; then
        say "stopping the Docker daemon this demo started"
        bash "$ROOT/scripts/dockerd.sh" --stop || true
    fi
    if [ "${WFOBJ_DEMO_KEEP:-0}" = 1 ]; then
        echo "kept $WORK (store, serve.log)" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "wfobj init $STORE; wfobj serve --bind 127.0.0.1:$PORT"
"${WFOBJ[@]}" --store "$STORE" init >/dev/null
"${WFOBJ[@]}" --store "$STORE" serve --bind "127.0.0.1:$PORT" --workers 2 --engine-workers 1 \
    >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 150); do
    if "$PY" -c "import requests,sys; requests.get('$SERVER/api/health', timeout=1).raise_for_status()" 2>/dev/null; then
        break
    fi
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "wfobj serve exited"; }
    sleep 0.2
done
grep -m1 "admin token" "$WORK/serve.log" >&2 || true
export WFOBJ_SERVER="$SERVER"
WFOBJ_TOKEN="$(cat "$STORE/admin-token")"
export WFOBJ_TOKEN
curl_health="$("$PY" -c "import requests; print(requests.get('$SERVER/api/health').text)")"
echo "GET /api/health -> $curl_health"

# --- 3. the example, over the API ----------------------------------------------------------
say "wfobj workflow apply examples/wordcount.yaml"
"${WFOBJ[@]}" workflow apply examples/wordcount.yaml

say "wfobj run trigger wordcount -p corpus=@examples/corpus.txt --wait   (status and evidence)"
set +e
"${WFOBJ[@]}" run trigger wordcount -p corpus=@examples/corpus.txt --wait
run_status=$?
set -e
RUN_ID="$("${WFOBJ[@]}" run list --workflow wordcount --limit 1 --json |
          "$PY" -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["run_id"])')"

say "wfobj run show $RUN_ID"
"${WFOBJ[@]}" run show "$RUN_ID"
say "wfobj run files $RUN_ID"
"${WFOBJ[@]}" run files "$RUN_ID"
say "wfobj run lineage $RUN_ID"
"${WFOBJ[@]}" run lineage "$RUN_ID"
say "wfobj run audit $RUN_ID"
"${WFOBJ[@]}" run audit "$RUN_ID"

[ "$run_status" = 0 ] || die "the run did not succeed (see above; server log in $WORK/serve.log)"
say "demo done: run $RUN_ID succeeded"
