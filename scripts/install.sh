#!/usr/bin/env bash
# Installs aigne-ci for the action (the `install` step of action.yml).
#
# Order: `aigne-ci-path` input (escape hatch) > runner tool cache > release asset listed in
# `release-manifest.txt` (downloaded with retries, sha256 verified) > `cargo install --locked`
# from the action's own source (the action used from a branch, or a platform with no asset).
#
# Reads: INPUT_VERSION, INPUT_AIGNE_CI_PATH, RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP,
# RUNNER_TOOL_CACHE, GITHUB_ACTION_PATH, GITHUB_OUTPUT, GITHUB_PATH, and
# AIGNE_CI_RELEASE_BASE_URL (where release assets live: `<base>/v<version>/<asset>`; tests point it
# at a server on loopback). Writes the outputs `aigne-ci-path`, `version` and `source`.
set -euo pipefail

action_path=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}
# shellcheck source=scripts/lib.sh
. "$action_path/scripts/lib.sh"
guard_environment

default_base_url='https://github.com/aigne/run-action/releases/download'
base_url=${AIGNE_CI_RELEASE_BASE_URL:-$default_base_url}
base_url=${base_url%/}
manifest="$action_path/release-manifest.txt"

exe=''
[ "${RUNNER_OS:-}" = Windows ] && exe='.exe'

finish() { # <binary> <version> <source>
  local binary=$1 bin_dir version_text
  bin_dir=$(cd "$(dirname "$binary")" && pwd)
  version_text=$("$binary" --version) || bail "\`$binary --version\` failed; is it a binary for this runner ($RUNNER_OS $RUNNER_ARCH)?"
  if [ -n "${GITHUB_PATH:-}" ]; then
    runner_path "$bin_dir" >>"$GITHUB_PATH"
  fi
  set_output aigne-ci-path "$(runner_path "$bin_dir/$(basename "$binary")")"
  set_output version "$2"
  set_output source "$3"
  info "using $version_text from $3 ($(runner_path "$bin_dir"))"
  exit 0
}

# 1. Escape hatch: a binary the workflow already has.
if [ -n "${INPUT_AIGNE_CI_PATH:-}" ]; then
  path=$INPUT_AIGNE_CI_PATH
  if [ -d "$path" ]; then path="$path/aigne-ci$exe"; fi
  [ -f "$path" ] || bail "aigne-ci-path \`$INPUT_AIGNE_CI_PATH\` is not a file"
  [ -x "$path" ] || bail "aigne-ci-path \`$INPUT_AIGNE_CI_PATH\` is not executable"
  path_version=$("$path" --version) || bail "\`$path --version\` failed; is it an aigne-ci binary for this runner?"
  finish "$path" "${path_version##* }" path
fi

# The version this copy of the action was built from: its own Cargo.toml.
own_version=$(awk -F '"' '/^\[package\]/ {p=1; next} /^\[/ {p=0} p && /^version *=/ {print $2; exit}' "$action_path/Cargo.toml")
[ -n "$own_version" ] || bail "cannot read the package version from \`$action_path/Cargo.toml\`"
version=${INPUT_VERSION:-$own_version}
version=${version#v}
case "$version" in
  *[!0-9A-Za-z.+-]* | '') bail "version \`$version\` is not a version like \`0.1.0\`" ;;
esac

os=${RUNNER_OS:?RUNNER_OS is not set}
arch=${RUNNER_ARCH:?RUNNER_ARCH is not set}
case "$os/$arch" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc ;;
  Windows/ARM64) target=aarch64-pc-windows-msvc ;;
  *) target='' ;;
esac
if [ "$os" = Windows ]; then archive_ext=zip; else archive_ext=tar.gz; fi

# 2. The runner's tool cache (persists on self-hosted runners; `<tool>/<version>/<arch>` + marker,
#    the layout of @actions/tool-cache).
tool_root=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:?RUNNER_TEMP is not set}/tool-cache}
tool_dir="$tool_root/aigne-ci/$version/$(to_lower "$arch")"
if [ -f "$tool_dir.complete" ] && [ -x "$tool_dir/aigne-ci$exe" ]; then
  finish "$tool_dir/aigne-ci$exe" "$version" tool-cache
fi

# 3. A release asset listed in the manifest (format of `sha256sum`: `<hex>  <file>`).
asset="aigne-ci-$version-$target.$archive_ext"
expected=''
if [ -n "$target" ] && [ -f "$manifest" ]; then
  expected=$(awk -v asset="$asset" '$1 ~ /^[0-9a-f]+$/ && length($1) == 64 && ($2 == asset || $2 == "*" asset) {print $1; exit}' "$manifest")
fi

download() { # <url> <file>
  local url=$1 file=$2 attempt=1 attempts=${AIGNE_CI_INSTALL_ATTEMPTS:-5}
  local -a proto
  case "$url" in
    https://*) proto=(--proto '=https' --tlsv1.2) ;;
    http://127.0.0.1[:/]* | http://localhost[:/]*) proto=(--proto '=http') ;;
    *) bail "refusing to download \`$url\`: only https (or http on loopback) is allowed" ;;
  esac
  command -v curl >/dev/null 2>&1 || bail 'curl is not installed; set `aigne-ci-path` to a binary you installed'
  while :; do
    if curl "${proto[@]}" --fail --silent --show-error --location \
      --connect-timeout 20 --max-time 300 --output "$file" "$url"; then
      return 0
    fi
    if [ "$attempt" -ge "$attempts" ]; then
      bail "download of \`$url\` failed after $attempt attempts"
    fi
    warn "download of \`$url\` failed (attempt $attempt of $attempts); retrying"
    [ -n "${AIGNE_CI_TEST_NO_RETRY_DELAY:-}" ] || sleep $((attempt * 2))
    attempt=$((attempt + 1))
  done
}

if [ -n "$expected" ]; then
  url="$base_url/v$version/$asset"
  work=$(mktemp -d "${RUNNER_TEMP:?RUNNER_TEMP is not set}/aigne-ci-install.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "::group::aigne-ci: download $asset"
  download "$url" "$work/$asset"
  actual=$(sha256_of_file "$work/$asset")
  if [ "$actual" != "$expected" ]; then
    echo '::endgroup::'
    bail "sha256 mismatch for \`$asset\` from \`$url\`: expected $expected (release-manifest.txt), got $actual; refusing to install it"
  fi
  info "sha256 $actual verified against release-manifest.txt"
  mkdir -p "$work/unpacked"
  if [ "$archive_ext" = zip ]; then
    if command -v unzip >/dev/null 2>&1; then
      unzip -q "$work/$asset" -d "$work/unpacked"
    else
      # Paths go through the environment, never into the command text.
      ZIP_SOURCE=$(runner_path "$work/$asset") ZIP_DESTINATION=$(runner_path "$work/unpacked") \
        pwsh -NoProfile -NonInteractive -Command \
        'Expand-Archive -LiteralPath $env:ZIP_SOURCE -DestinationPath $env:ZIP_DESTINATION'
    fi
  else
    tar -xzf "$work/$asset" -C "$work/unpacked"
  fi
  binary="$work/unpacked/aigne-ci-$version-$target/aigne-ci$exe"
  [ -f "$binary" ] || bail "\`$asset\` does not hold \`aigne-ci-$version-$target/aigne-ci$exe\`"
  chmod +x "$binary"
  # Stage next to the final folder, then rename: a cancelled job never leaves a half tool dir.
  mkdir -p "$(dirname "$tool_dir")"
  rm -rf "$tool_dir" "$tool_dir.complete"
  staging=$(mktemp -d "$tool_dir.staging.XXXXXX")
  cp "$binary" "$staging/aigne-ci$exe"
  mv "$staging" "$tool_dir"
  : >"$tool_dir.complete"
  echo '::endgroup::'
  finish "$tool_dir/aigne-ci$exe" "$version" download
fi

# 4. No asset: build from the action's own source, which is exactly `own_version`.
if [ "$version" != "$own_version" ]; then
  bail "aigne-ci $version has no release asset for ${target:-$os/$arch} in release-manifest.txt of this action (which is aigne-ci $own_version); use the action at the release's tag, leave \`version\` empty, or set \`aigne-ci-path\`"
fi
command -v cargo >/dev/null 2>&1 ||
  bail "no release asset of aigne-ci $version for ${target:-$os/$arch} and no \`cargo\` to build it; install Rust (e.g. dtolnay/rust-toolchain) or set \`aigne-ci-path\`"
warn "no release asset of aigne-ci $version for ${target:-$os/$arch}; building it from the action's source with cargo (slow)"
build_root="${RUNNER_TEMP:?RUNNER_TEMP is not set}/aigne-ci-build"
echo '::group::aigne-ci: cargo install --locked'
# Without LTO and with many codegen units: a CI build of a few minutes instead of a release build
# several times longer, for a binary that runs one job.
CARGO_TARGET_DIR="$build_root/target" CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=64 \
  cargo install --locked --path "$action_path" --root "$build_root" --bin aigne-ci
echo '::endgroup::'
[ -x "$build_root/bin/aigne-ci$exe" ] || bail "cargo install did not produce \`$build_root/bin/aigne-ci$exe\`"
finish "$build_root/bin/aigne-ci$exe" "$version" build
