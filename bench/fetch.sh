#!/usr/bin/env bash
# Benchmark (not a test): `aigne-ci fetch --refresh` of a >=100 MB tarball served on loopback,
# against `curl -s URL | tar xzf -` in the same run. Prints wall times, the ratio and peak RSS.
#
# Targets (issue 2): fetch + extract within 1.2x of curl|tar; peak RSS <= 64 MB.
# Usage: bench/fetch.sh [RUNS]   (env: KEEP=1 keeps the work folder)
set -euo pipefail

runs="${1:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time" >&2
  (apt-get update -qq && apt-get install -y -qq time) >/dev/null
fi
for tool in curl tar python3; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done

cargo build --release --quiet
binary="$root/target/release/aigne-ci"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  if [ "${KEEP:-}" != 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# A repository-like archive: one top-level folder, an aigne.yaml, many small text files, and
# large files of random bytes (incompressible) and base64 text (compressible, real inflate work).
echo "building the tarball..." >&2
src="$work/src/bench-repo-0123abc"
mkdir -p "$src/assets" "$src/docs" "$src/lib"
printf 'name: bench\nagents:\n  - chat.yaml\n' >"$src/aigne.yaml"
printf 'type: ai\ninstructions: hello\n' >"$src/chat.yaml"
for i in $(seq 1 60); do
  head -c 1048576 /dev/urandom >"$src/assets/blob-$i.bin"
  head -c 786432 /dev/urandom | base64 >"$src/docs/text-$i.txt"
done
python3 - "$src/lib" <<'PY'
import os, sys, random
random.seed(7)
words = "agent model prompt input output tool skill memory team router schema json yaml".split()
for i in range(3000):
    with open(os.path.join(sys.argv[1], f"mod_{i}.js"), "w") as f:
        f.write("\n".join(" ".join(random.choices(words, k=12)) for _ in range(40)))
PY
tar -C "$work/src" -czf "$work/bench.tar.gz" bench-repo-0123abc
size=$(stat -c %s "$work/bench.tar.gz")
echo "tarball: $((size / 1048576)) MiB compressed" >&2
if [ "$size" -lt 100000000 ]; then echo "tarball is smaller than 100 MB" >&2; exit 1; fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port/bench.tar.gz"
for _ in $(seq 1 50); do curl -sf -o /dev/null -r 0-0 "$url" && break; sleep 0.1; done

# Wall seconds and peak RSS (KiB) from `/usr/bin/time -v` output.
measure() {
  local out="$1"
  shift
  /usr/bin/time -v -o "$out" "$@" >/dev/null 2>&1
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$out")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out")
  echo "$wall $rss"
}

cache="$work/cache"
"$binary" fetch "$url" --cache-dir "$cache" >/dev/null 2>&1 # warm the page cache and the entry
curl_walls=()
fetch_walls=()
fetch_rss_max=0
curl_rss_max=0
for run in $(seq 1 "$runs"); do
  # Alternate the order so neither side always runs on a warmer (or busier) machine.
  for side in $([ $((run % 2)) = 1 ] && echo "curl fetch" || echo "fetch curl"); do
    sync
    if [ "$side" = curl ]; then
      rm -rf "$work/curl-out" && mkdir -p "$work/curl-out"
      read -r wall rss < <(measure "$work/time-curl" sh -c "curl -s '$url' | tar xzf - -C '$work/curl-out'")
      curl_walls+=("$wall")
      [ "$rss" -gt "$curl_rss_max" ] && curl_rss_max=$rss
    else
      read -r wall rss < <(measure "$work/time-fetch" "$binary" fetch "$url" --refresh --cache-dir "$cache")
      fetch_walls+=("$wall")
      [ "$rss" -gt "$fetch_rss_max" ] && fetch_rss_max=$rss
    fi
  done
  echo "run $run: curl|tar ${curl_walls[-1]}s, aigne-ci fetch --refresh ${fetch_walls[-1]}s" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
curl_median=$(median "${curl_walls[@]}")
fetch_median=$(median "${fetch_walls[@]}")
ratio=$(awk -v f="$fetch_median" -v c="$curl_median" 'BEGIN {printf "%.2f", f / c}')
echo "tarball_bytes=$size"
echo "curl_tar_wall_s=$curl_median (median of $runs)"
echo "aigne_ci_fetch_wall_s=$fetch_median (median of $runs)"
echo "ratio=$ratio (target <= 1.20)"
echo "aigne_ci_peak_rss_mb=$((fetch_rss_max / 1024)) (target <= 64)"
echo "curl_tar_peak_rss_mb=$((curl_rss_max / 1024))"
