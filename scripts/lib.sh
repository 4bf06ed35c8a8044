# shellcheck shell=bash
# Shared helpers for the action's scripts (sourced, never run). Bash 3.2+ (macOS), Git Bash on Windows.
#
# The runner protocol used here: `::error::`/`::warning::`/`::notice::` workflow commands,
# `::group::`, and `name=value` lines appended to `$GITHUB_OUTPUT` / paths to `$GITHUB_PATH`.

# Refuses an environment that could change what bash runs behind our back: exported functions
# (`BASH_FUNC_*`, Shellshock-style) and `CDPATH` tricks. The runner passes step `env:` as-is, and
# a previous step may have written anything to `$GITHUB_ENV`. action.yml starts every bash with
# `-p` (privileged mode), so `BASH_ENV`/`ENV` are never sourced and functions never imported;
# refusing them here also keeps them away from the programs these scripts start.
guard_environment() {
  if env | grep -q '^BASH_FUNC_'; then
    printf '::error title=aigne-ci::%s\n' 'exported bash functions (`BASH_FUNC_*`) in the environment; refusing to run'
    exit 1
  fi
  unset CDPATH GLOBIGNORE
}

bail() {
  printf '::error title=aigne-ci::%s\n' "$*"
  exit 1
}

warn() {
  printf '::warning title=aigne-ci::%s\n' "$*"
}

info() {
  printf 'aigne-ci: %s\n' "$*"
}

# Appends `name=value` to `$GITHUB_OUTPUT`; values here are paths, keys and words, never text that
# could hold a newline (a multi-line value would need a random heredoc delimiter).
set_output() {
  case "$2" in
    *$'\n'* | *$'\r'*) bail "output \`$1\` would hold a line break" ;;
  esac
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  else
    printf '%s=%s\n' "$1" "$2"
  fi
}

# Prints the lowercase hex sha256 of a file, with whichever tool the runner has.
sha256_of_file() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
  else
    bail 'no sha256 tool found (sha256sum, shasum or openssl); cannot verify the download'
  fi
}

# Prints the lowercase hex sha256 of standard input.
sha256_of_stdin() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r | cut -d ' ' -f 1
  else
    bail 'no sha256 tool found (sha256sum, shasum or openssl)'
  fi
}

# A path the runner itself can read (Windows form under Git Bash, unchanged elsewhere).
runner_path() {
  if [ "${RUNNER_OS:-}" = Windows ] && command -v cygpath >/dev/null 2>&1; then
    cygpath -w "$1"
  else
    printf '%s\n' "$1"
  fi
}

to_lower() {
  printf '%s' "$1" | tr '[:upper:]' '[:lower:]'
}
