#!/usr/bin/env bash
# Upserts the pull-request comment for the action (the `comment` step of action.yml) with
# `aigne-ci comment`, when the `comment` input is `true`, after the run step (`run` or `merge`)
# wrote its summary, whether the policy held or not.
#
# The summary's path comes from the run step's `summary-file` output (`AIGNE_CI_SUMMARY`), the
# token from the `github-token` input (`AIGNE_CI_GITHUB_TOKEN`; the binary masks it). The binary
# reads the event, the repository and the API URL from the runner's `GITHUB_*` variables; on an
# event without a pull request, or a token that may not write, it prints a notice and exits 0.
set -euo pipefail

action_path=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}
# shellcheck source=scripts/lib.sh
. "$action_path/scripts/lib.sh"
guard_environment

case "$(to_lower "${INPUT_COMMENT:-false}")" in
  false | '') exit 0 ;;
  true) ;;
  *) bail "input \`comment\` is \`${INPUT_COMMENT}\`, expected \`true\` or \`false\`" ;;
esac
unset INPUT_COMMENT

binary=${AIGNE_CI_BIN:-}
[ -n "$binary" ] || bail 'the install step did not report an aigne-ci binary'
unset AIGNE_CI_BIN

if [ -z "${AIGNE_CI_SUMMARY:-}" ]; then
  printf '::notice title=aigne-ci::%s\n' 'the run step wrote no summary (it stopped before the cases ran): no pull-request comment'
  exit 0
fi
[ -n "${AIGNE_CI_GITHUB_TOKEN:-}" ] || unset AIGNE_CI_GITHUB_TOKEN

exec "$binary" comment
