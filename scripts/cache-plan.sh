#!/usr/bin/env bash
# Plans the action's project cache (the `cache-plan` step of action.yml): whether to restore and
# save the aigne-ci cache folder with actions/cache, under which keys.
#
# Keys: `aigne-ci-v1-<os>-<arch>-<hash of url and subdir>-<sha256 of the tarball>`. Restore tries the
# pinned `sha256` first, then the newest entry of the same project (`restore-prefix`); after the run,
# the cache is saved under the project's real sha256 (the run's `project-sha256` output), so an
# entry is immutable and content-addressed, and a changed tarball gets a new entry.
#
# Modes (`cache` input): `auto` (default) restores and saves, except on `pull_request_target` and
# `workflow_run`, where it only restores: those events run with the base repository's secrets and
# cache scope, so a save there would let untrusted code poison the cache of the default branch.
# `true` also saves there; `restore-only` never saves; `false` does neither.
#
# Reads: INPUT_CACHE, AIGNE_CI_URL, AIGNE_CI_SUBDIR, AIGNE_CI_SHA256, AIGNE_CI_CACHE_DIR,
# GITHUB_EVENT_NAME, GITHUB_WORKSPACE, RUNNER_OS, RUNNER_ARCH. Writes the outputs `restore`, `save`,
# `path`, `key` and `restore-prefix`.
set -euo pipefail

action_path=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}
# shellcheck source=scripts/lib.sh
. "$action_path/scripts/lib.sh"
guard_environment

mode=$(to_lower "${INPUT_CACHE:-auto}")
url=${AIGNE_CI_URL:-}
event=${GITHUB_EVENT_NAME:-}

case "$mode" in
  auto | true | restore-only | false) ;;
  *) bail "cache \`$mode\` is not one of auto, true, restore-only, false" ;;
esac

restore=true
save=true
case "$url" in
  http://* | https://*) ;;
  *)
    # A project in the workspace: nothing downloaded, nothing worth caching.
    restore=false
    save=false
    ;;
esac
case "$mode" in
  false)
    restore=false
    save=false
    ;;
  restore-only) save=false ;;
  auto)
    case "$event" in
      pull_request_target | workflow_run)
        if [ "$save" = true ]; then
          echo "::notice title=aigne-ci::cache restored but not saved on \`$event\` (cache poisoning); set \`cache: true\` to save anyway"
        fi
        save=false
        ;;
    esac
    ;;
esac

path=${AIGNE_CI_CACHE_DIR:-${GITHUB_WORKSPACE:-$PWD}/.aigne-cache}
project=$(printf '%s\n%s\n' "$url" "${AIGNE_CI_SUBDIR:-}" | sha256_of_stdin | cut -c 1-16)
prefix="aigne-ci-v1-${RUNNER_OS:-unknown}-${RUNNER_ARCH:-unknown}-$project-"
pinned=$(to_lower "${AIGNE_CI_SHA256:-}")
key="$prefix${pinned:-unpinned}"

set_output restore "$restore"
set_output save "$save"
set_output path "$path"
set_output key "$key"
set_output restore-prefix "$prefix"
info "cache: restore=$restore save=$save key=$key"
