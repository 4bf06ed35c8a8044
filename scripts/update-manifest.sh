#!/usr/bin/env bash
# Records a release's archives in release-manifest.txt (used by release.yml after publishing):
#   scripts/update-manifest.sh <version> <dir with aigne-ci-<version>-*.{tar.gz,zip}> [manifest]
# Lines of other versions are kept; this version's lines are replaced; lines stay sorted, so the
# file diffs cleanly. The format is `sha256sum`'s (`<hex>  <file>`), `#` lines are comments.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

[ $# -ge 2 ] || bail 'usage: update-manifest.sh <version> <dist-dir> [manifest]'
version=${1#v}
dist=$2
manifest=${3:-$here/../release-manifest.txt}

found=0
entries=$(mktemp)
trap 'rm -f "$entries" "$entries.new"' EXIT
for archive in "$dist"/aigne-ci-"$version"-*.tar.gz "$dist"/aigne-ci-"$version"-*.zip; do
  [ -f "$archive" ] || continue
  printf '%s  %s\n' "$(sha256_of_file "$archive")" "$(basename "$archive")" >>"$entries"
  found=$((found + 1))
done
[ "$found" -gt 0 ] || bail "no archives of aigne-ci $version in \`$dist\`"

{
  if [ -f "$manifest" ]; then
    grep '^#' "$manifest" || true
  fi
  {
    if [ -f "$manifest" ]; then
      grep -v '^#' "$manifest" | grep -v "  aigne-ci-$version-" | grep -v '^[[:space:]]*$' || true
    fi
    cat "$entries"
  } | LC_ALL=C sort -k 2
} >"$entries.new"
mv "$entries.new" "$manifest"
info "release-manifest: $found archives of $version recorded"
