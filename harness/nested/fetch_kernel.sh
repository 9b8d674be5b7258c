#!/bin/bash
# tags: harness|nested — desc: fetch the current Debian kernel + the 4 KVM modules into a cache outside the tree.
#
# Usage: fetch_kernel.sh [CACHE_DIR]   (default: $VTB_NESTED_CACHE or $HOME/.cache/vtb/nested-kernel)
# Leaves CACHE_DIR/{vmlinuz,irqbypass.ko,ccp.ko,kvm.ko,kvm-amd.ko,VERSION}. Idempotent: a complete
# cache is reused; an incomplete one is rebuilt. Recipe: /work/shared/notes/nested-kvm.md §1.2.
set -euo pipefail
CACHE="${1:-${VTB_NESTED_CACHE:-$HOME/.cache/vtb/nested-kernel}}"
MODS=(irqbypass ccp kvm kvm-amd)

complete() {
  [ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/VERSION" ] || return 1
  for m in "${MODS[@]}"; do [ -s "$CACHE/$m.ko" ] || return 1; done
}
if complete; then echo "nested: kernel cache ok: $CACHE ($(cat "$CACHE/VERSION"))"; exit 0; fi

mkdir -p "$CACHE"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/vtb-kernel.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
PKG="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
if [ -z "$PKG" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  PKG="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
fi
[ -n "$PKG" ] || { echo "nested: cannot resolve the Debian kernel package (apt-cache depends linux-image-amd64)" >&2; exit 2; }
KVER="${PKG#linux-image-}"
echo "nested: downloading $PKG"
( cd "$TMP" && apt-get download -q "$PKG" 2>&1 | grep -v -e 'unsandboxed' -e '^$' || true )
DEB="$(ls "$TMP"/*.deb 2>/dev/null | head -1)"
if [ -z "$DEB" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  ( cd "$TMP" && apt-get download -q "$PKG" 2>&1 | grep -v unsandboxed || true )
  DEB="$(ls "$TMP"/*.deb 2>/dev/null | head -1)"
fi
[ -n "$DEB" ] || { echo "nested: apt-get download $PKG failed" >&2; exit 2; }
dpkg -x "$DEB" "$TMP/kimg"
cp "$TMP/kimg/boot/vmlinuz-$KVER" "$CACHE/vmlinuz.new"
MODDIR="$TMP/kimg/lib/modules/$KVER/kernel"
find_mod() {  # plain, .xz or .zst
  local rel="$1" out="$2"
  if [ -f "$MODDIR/$rel.ko" ]; then cp "$MODDIR/$rel.ko" "$out"
  elif [ -f "$MODDIR/$rel.ko.xz" ]; then xz -dc "$MODDIR/$rel.ko.xz" > "$out"
  elif [ -f "$MODDIR/$rel.ko.zst" ]; then zstd -qdc "$MODDIR/$rel.ko.zst" > "$out"
  else echo "nested: module $rel not in $PKG" >&2; return 2; fi
}
find_mod virt/lib/irqbypass "$CACHE/irqbypass.ko.new"
find_mod drivers/crypto/ccp/ccp "$CACHE/ccp.ko.new"
find_mod arch/x86/kvm/kvm "$CACHE/kvm.ko.new"
find_mod arch/x86/kvm/kvm-amd "$CACHE/kvm-amd.ko.new"
for f in vmlinuz "${MODS[@]/%/.ko}"; do mv "$CACHE/$f.new" "$CACHE/$f"; done
echo "$KVER" > "$CACHE/VERSION"
echo "nested: kernel cache filled: $CACHE ($KVER)"
