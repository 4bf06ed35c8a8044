#!/usr/bin/env bash
# Packs a release binary the way install.sh expects it (used by release.yml):
#   scripts/package.sh <target> <version> <binary> <out-dir>
# makes `<out-dir>/aigne-ci-<version>-<target>.tar.gz` (`.zip` for Windows targets) holding the
# folder `aigne-ci-<version>-<target>/` with the binary, README.md and LICENSE, and beside it
# `<archive>.sha256` in `sha256sum` format.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

[ $# -eq 4 ] || bail 'usage: package.sh <target> <version> <binary> <out-dir>'
target=$1
version=${2#v}
binary=$3
out_dir=$4
root=$(cd "$here/.." && pwd)

name="aigne-ci-$version-$target"
case "$target" in
  *windows*) archive="$name.zip" exe=.exe ;;
  *) archive="$name.tar.gz" exe='' ;;
esac

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/$name"
cp "$binary" "$stage/$name/aigne-ci$exe"
chmod 755 "$stage/$name/aigne-ci$exe"
for doc in README.md LICENSE; do
  if [ -f "$root/$doc" ]; then cp "$root/$doc" "$stage/$name/"; fi
done

rm -f "$out_dir/$archive"
case "$archive" in
  *.zip)
    if command -v 7z >/dev/null 2>&1; then
      (cd "$stage" && 7z a -tzip -bd "$out_dir/$archive" "$name" >/dev/null)
    else
      (cd "$stage" && zip -qr "$out_dir/$archive" "$name")
    fi
    ;;
  *) tar -C "$stage" -czf "$out_dir/$archive" "$name" ;;
esac

printf '%s  %s\n' "$(sha256_of_file "$out_dir/$archive")" "$archive" >"$out_dir/$archive.sha256"
cat "$out_dir/$archive.sha256"
