#!/usr/bin/env bash
# Build the image wfobj/toolbox:local without any registry: a root filesystem
# made from Debian's static busybox, imported with `docker import`.
#
#   scripts/build-toolbox-image.sh [--force]
#
# Skips the build when the image already exists, unless --force.
# Uses whatever daemon DOCKER_HOST points at (see scripts/dockerd.sh).
#
# Environment:
#   WFOBJ_TOOLBOX_IMAGE  image name (default wfobj/toolbox:local)
#   WFOBJ_BUSYBOX        static busybox binary (default /bin/busybox)
set -euo pipefail

IMAGE="${WFOBJ_TOOLBOX_IMAGE:-wfobj/toolbox:local}"
BUSYBOX="${WFOBJ_BUSYBOX:-/bin/busybox}"
# Applets the workflows and tests rely on; the build fails if one is missing.
REQUIRED_APPLETS="sh tr awk grep wc cat echo sleep ln mkfifo true false head tail seq sha256sum env sed sort cut ls mkdir rm cp mv printf test"

say() { printf 'build-toolbox-image.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }
trap 'say "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

force=0
case "${1:-}" in
    --force) force=1 ;;
    "") ;;
    *) die "unknown argument: $1 (use --force or no argument)" ;;
esac

command -v docker >/dev/null 2>&1 || die "the docker client is not installed"
docker version >/dev/null 2>&1 </dev/null ||
    die "no Docker daemon answers${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST}; run: eval \"\$(scripts/dockerd.sh)\""

if [ "$force" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1 </dev/null; then
    say "$IMAGE already exists (use --force to rebuild)"
    exit 0
fi

[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (Debian/Ubuntu: apt-get install busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install the static one (apt-get install busybox-static)"
fi

old_id="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null </dev/null)" || old_id=""
work="$(mktemp -d "${TMPDIR:-/tmp}/wfobj-toolbox.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

# Layout: everything in /bin; /sbin, /usr/bin, /usr/sbin are links to it, so
# `#!/usr/bin/env sh` and absolute paths like /usr/bin/awk work.
mkdir -p "$root"/{bin,etc,root,tmp,in,out,usr,proc,sys,dev,var}
ln -s bin "$root/sbin"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"
cp "$BUSYBOX" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    case "$applet" in busybox|*/*|"") continue ;; esac
    ln -s busybox "$root/bin/$applet"
done
[ -e "$root/bin/sh" ] || ln -s busybox "$root/bin/sh"
for applet in $REQUIRED_APPLETS; do
    [ -e "$root/bin/$applet" ] || die "busybox at $BUSYBOX lacks the applet '$applet'"
done

chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
chmod 0755 "$root/in"
chmod 0777 "$root/out"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
ln -s /proc/self/mounts "$root/etc/mtab"

# (sed reads everything: no SIGPIPE under pipefail)
bb_version="$("$BUSYBOX" --help 2>&1 | sed -n '1s/^BusyBox \(v[^ ]*\).*/\1/p')" || bb_version=""
say "building $IMAGE from $BUSYBOX ${bb_version:-}"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$work/rootfs.tar" .
docker import \
    --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.wfobj.toolbox.busybox=${bb_version:-unknown}" \
    --message "wfobj toolbox: static busybox ${bb_version:-}" \
    "$work/rootfs.tar" "$IMAGE" </dev/null >&2

# Smoke test: the image must run without network.
out="$(docker run --rm --network none "$IMAGE" sh -c 'echo ok | tr a-z A-Z' </dev/null)" ||
    die "smoke test of $IMAGE failed"
[ "$out" = "OK" ] || die "smoke test of $IMAGE printed '$out', expected 'OK'"
new_id="$(docker image inspect --format '{{.Id}}' "$IMAGE" </dev/null)"
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    # drop the replaced image unless a container still uses it
    docker image rm "$old_id" >/dev/null 2>&1 </dev/null || true
fi
say "built $IMAGE ($new_id)"
