#!/usr/bin/env bash
# Run the CWL v1.2 conformance suite against wfobj-cwl-runner (docs/cwl.md).
#
#   scripts/cwl-conformance.sh SUITE_DIR [cwltest options...]
#
# SUITE_DIR: a checkout of github.com/common-workflow-language/cwl-v1.2 (never copied into
# this project). Options go to cwltest as they are, e.g. `--tags required`, `-n 1-20`,
# `-j 1`, `--timeout 120`; default: `-j 1 --timeout 120`. Needs `pip install cwltest`,
# a Docker daemon (DOCKER_HOST) and the stand-in images of scripts/cwl-standin-images.sh.
# Tools without a DockerRequirement run in WFOBJ_CWL_DEFAULT_IMAGE (default here:
# debian:stable-slim, the stand-in with coreutils, bash, perl and python3).
# RUNNER=cwltool runs the same tests with the reference runner, for comparison; then
# `scripts/cwl-tag-table.py /tmp/cwl-badges-wfobj-cwl-runner /tmp/cwl-badges-cwltool`
# prints the per-tag table of the two runs. BADGES=DIR: where the badges go.
set -euo pipefail

suite="${1:?usage: scripts/cwl-conformance.sh SUITE_DIR [cwltest options...]}"
shift
[ -f "$suite/conformance_tests.yaml" ] || { echo "no conformance_tests.yaml in $suite" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
runner="${RUNNER:-wfobj-cwl-runner}"
# cwltest writes its per-tag badges (TAG.json, TAG.md: scripts/cwl-tag-table.py reads them)
# into a new folder at the end: the default one is replaced, a BADGES given must not exist.
badges="${BADGES:-/tmp/cwl-badges-$runner}"
if [ -e "$badges" ]; then
    [ -z "${BADGES:-}" ] || { echo "BADGES=$badges exists: remove it or name another" >&2; exit 2; }
    rm -rf "$badges"
fi
"$here/cwl-standin-images.sh"
export WFOBJ_CWL_DEFAULT_IMAGE="${WFOBJ_CWL_DEFAULT_IMAGE:-debian:stable-slim}"
[ "$#" -gt 0 ] || set -- -j 1 --timeout 120
cd "$suite"
extra=()
[ "$runner" = cwltool ] && extra=(-- --relax-path-checks --default-container "$WFOBJ_CWL_DEFAULT_IMAGE")
exec cwltest --test conformance_tests.yaml --tool "$runner" --badgedir "$badges" "$@" "${extra[@]}"
