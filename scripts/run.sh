#!/usr/bin/env bash
# Runs `aigne-ci run` for the action (the `run` step of action.yml), or `aigne-ci merge` when the
# `merge` input lists shard results.
#
# Every action input arrives as the `AIGNE_CI_*` variable of its flag (action.yml `env:`); the
# binary reads them itself (flag > env > default), so nothing here builds a command line from input
# text. The binary writes the step outputs to `$GITHUB_OUTPUT` and exits with the status of
# DESIGN.md (0 pass, 1 policy failed, 2 usage, 3 fetch, 4 total timeout, 130 interrupted).
set -euo pipefail

action_path=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}
# shellcheck source=scripts/lib.sh
. "$action_path/scripts/lib.sh"
guard_environment

binary=${AIGNE_CI_BIN:-}
[ -n "$binary" ] || bail 'the install step did not report an aigne-ci binary'

# On/off flags of `aigne-ci run` (clap `SetTrue`): the action passes `false` for an unset input,
# and clap would count a variable that is set at all as the flag being given (`--offline` and
# `--refresh` then conflict), so `false` means "unset" here.
boolean_variables='AIGNE_CI_OFFLINE AIGNE_CI_REFRESH AIGNE_CI_DENY_EXEC AIGNE_CI_ALLOW_INSTALL_SCRIPTS AIGNE_CI_TRUST_PROJECT_ENV AIGNE_CI_DRY_RUN'

# An empty input is an input the workflow did not give: unset its variable so the binary's own
# default applies (clap reads an empty variable as an empty value).
for name in $(compgen -e); do
  case "$name" in
    AIGNE_CI_*)
      value=${!name}
      if [ -z "$value" ]; then
        unset "$name"
        continue
      fi
      case " $boolean_variables " in
        *" $name "*)
          case "$(to_lower "$value")" in
            false) unset "$name" ;;
            true) ;;
            *) bail "input for \`$name\` is \`$value\`, expected \`true\` or \`false\`" ;;
          esac
          ;;
      esac
      ;;
  esac
done
unset AIGNE_CI_BIN

if [ -n "${AIGNE_CI_TOKEN:-}" ]; then
  echo "::add-mask::$AIGNE_CI_TOKEN"
fi

# `merge`: the listed results, split on whitespace with globbing off, then each pattern expanded
# by `compgen -G` (a glob only: no command substitution or other expansion of the input text).
if [ -n "${AIGNE_CI_MERGE:-}" ]; then
  merge_list=$AIGNE_CI_MERGE
  unset AIGNE_CI_MERGE
  set -f
  read -r -d '' -a words < <(printf '%s\0' "$merge_list") || true
  set +f
  paths=()
  for word in "${words[@]}"; do
    case "$word" in
      *[*?[]*)
        mapfile -t matched < <(compgen -G "$word" | LC_ALL=C sort)
        [ "${#matched[@]}" -gt 0 ] || bail "merge: no results match \`$word\`"
        paths+=("${matched[@]}")
        ;;
      *) paths+=("$word") ;;
    esac
  done
  exec "$binary" merge -- "${paths[@]}"
fi

exec "$binary" run
