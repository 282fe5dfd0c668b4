#!/usr/bin/env bash
# Build local stand-ins for the images the CWL conformance suite names
# (debian:stable-slim, python:3-slim, bash:4.4, alpine:latest, and the other tags in
# CWL_STANDIN_TAGS) without any registry: one root filesystem copied from this Debian
# host's own packages (coreutils, bash, dash, grep, sed, mawk, tar, gzip, findutils,
# diffutils, perl, python3 and the libraries they depend on), imported with
# `docker import` and tagged under every name. See docs/cwl.md.
#
#   scripts/cwl-standin-images.sh [--force]
#
# Uses whatever daemon DOCKER_HOST points at. Needs dpkg-query and apt-cache (Debian).
set -euo pipefail

TAGS="${CWL_STANDIN_TAGS:-debian:stable-slim python:3-slim bash:4.4 alpine:latest debian:stretch-slim debian:8 python:3 python:2-slim}"
ROOTS="coreutils bash dash grep sed mawk tar gzip findutils diffutils bsdextrautils util-linux python3-minimal libpython3.11-stdlib base-files base-passwd"

say() { printf 'cwl-standin-images.sh: %s\n' "$*" >&2; }
first=${TAGS%% *}
if [ "${1:-}" != "--force" ] && docker image inspect "$first" >/dev/null 2>&1 </dev/null; then
    say "$first already exists (use --force to rebuild)"; exit 0
fi

root=$(mktemp -d); trap 'rm -rf "$root"' EXIT
packages=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances $ROOTS 2>/dev/null | grep -v '^ ' | sort -u |
    while read -r p; do
        dpkg-query -W -f='${Status} ${Package}\n' "$p" 2>/dev/null | awk '/install ok installed/ {print $4}'
    done)
say "packages: $(echo $packages | wc -w)"
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/lib64" "$root/usr/sbin" "$root/etc" \
    "$root/tmp" "$root/root" "$root/var/tmp" "$root/home"
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$root/$d"; done
chmod 1777 "$root/tmp" "$root/var/tmp"
# every regular file and symlink of those packages (merged /usr: /bin/x is /usr/bin/x)
for p in $packages; do dpkg -L "$p"; done | sed 's#^/\(bin\|lib\|lib64\|sbin\)/#/usr/\1/#' |
    sort -u | while read -r f; do if [ -f "$f" ] || [ -L "$f" ]; then printf "%s\n" "${f#/}"; fi; done |
    tar -C / --no-recursion -cf - -T - | tar -C "$root" -xf - --keep-directory-symlink
ln -sf dash "$root/usr/bin/sh"
[ -e "$root/usr/bin/python3" ] || ln -s python3.11 "$root/usr/bin/python3"
[ -e "$root/usr/bin/python" ] || ln -s python3 "$root/usr/bin/python"  # as python:3-slim has
cp /etc/passwd /etc/group "$root/etc/"
say "rootfs: $(du -sh "$root" | cut -f1)"
tar -C "$root" -cf - . | docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "$first" >/dev/null
for tag in ${TAGS#"$first"}; do docker tag "$first" "$tag"; done
say "built $TAGS"
