#!/usr/bin/env bash
# Load benchmark of examples/frame-proxy (issue 8): one test backend (the `backend_process`
# of examples/tests/frame_proxy.rs) reached directly, through frame-proxy (release build) and
# through HAProxy configured the same way (HTTP/1.1 keep-alive to the backend, pooled idle
# connections, X-Forwarded-For/Proto/Host, a response header naming the color, the same
# timeouts). Two kinds of run per target, loopback only:
#   * fixed rate, DURATION seconds per target: oha -q RATE (default 2,000 req/s) with latency
#     correction -> p50 / p99, and the deltas against direct (goal: frame-proxy delta p99 <= 1 ms);
#   * max throughput: wrk with MAX_CONNS connections (default "4 32"), ROUNDS rounds (default
#     5) of ROUND_SECS seconds (default DURATION) per target, the targets in a new order each
#     round -> median req/s, the median of the per-round ratios frame-proxy / HAProxy (goal: not
#     below 1), and each proxy's CPU time per request (user + system, from /proc; the figure
#     that does not depend on how the cores were shared in that second).
# Everything (load generator, proxies, backend) shares this machine's cores: compare within
# one run only, and run it more than once.
#
#   cargo build --release --example frame-proxy
#   cargo test -p axe-examples --test frame_proxy --no-run   # the backend lives in this binary
#   DURATION=10 bash benches/scripts/frame-proxy-load.sh
#
# Needs haproxy (Debian package) and wrk. For the fixed-rate runs it uses oha; when oha is
# missing it runs `cargo install --locked oha` (a few minutes), and if that fails it falls back
# to wrk2 (-R RATE) when installed, saying so; otherwise the fixed-rate rows are skipped.
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}
DURATION=${DURATION:-10}
RATE=${RATE:-2000}
RATE_CONNS=${RATE_CONNS:-16}
MAX_CONNS=${MAX_CONNS:-"4 32"}
ROUNDS=${ROUNDS:-5}
ROUND_SECS=${ROUND_SECS:-$DURATION}
REQ_PATH=/readyz
# PROXY_BIN: another frame-proxy build to measure (an older commit's, for a before/after).
PROXY_BIN=${PROXY_BIN:-$TARGET/release/examples/frame-proxy}
TEST_BIN=$(ls -t "$TARGET"/debug/deps/frame_proxy-* 2>/dev/null | grep -v '\.d$' | head -1 || true)
for need in "$PROXY_BIN" "$TEST_BIN"; do
  if [ ! -x "$need" ]; then
    echo "missing ${need:-the frame_proxy test binary}: build it first (see the header)" >&2
    exit 1
  fi
done
command -v haproxy >/dev/null || PATH=$PATH:/usr/sbin
command -v haproxy >/dev/null || { echo "haproxy not found (apt-get install haproxy)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }

# The fixed-rate load generator.
FIXED=oha
OHA=$(command -v oha || true)
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
if [ -z "$OHA" ] && [ -x "$CARGO_BIN/oha" ]; then OHA=$CARGO_BIN/oha; fi
if [ -z "$OHA" ]; then
  echo "oha not found: running cargo install --locked oha" >&2
  if cargo install --locked oha >&2 && [ -x "$CARGO_BIN/oha" ]; then
    OHA=$CARGO_BIN/oha
  elif command -v wrk2 >/dev/null; then
    FIXED=wrk2
    echo "oha could not be installed: fixed-rate runs use wrk2 -R $RATE instead" >&2
  else
    FIXED=none
    echo "no oha and no wrk2: the fixed-rate runs are skipped" >&2
  fi
fi

WORK=$(mktemp -d)
PIDS=()
# Backends start inside $(...) subshells, so their pids go to a file, not to PIDS.
cleanup() {
  for p in "${PIDS[@]}" $(cat "$WORK/backend.pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start_backend() { # color -> port
  FP_BACKEND_COLOR=$1 "$TEST_BIN" --exact backend_process --include-ignored --nocapture \
    > "$WORK/$1.out" 2>/dev/null &
  echo $! >> "$WORK/backend.pids"
  for _ in $(seq 100); do
    grep -q BACKEND_PORT= "$WORK/$1.out" 2>/dev/null && break
    sleep 0.1
  done
  sed -n 's/.*BACKEND_PORT=//p' "$WORK/$1.out"
}
BLUE=$(start_backend blue)
GREEN=$(start_backend green)

# Per-request log lines are info level; HAProxy below has no access log either.
FRAME_PROXY_LOG=warn "$PROXY_BIN" run --listen 127.0.0.1:0 --control 127.0.0.1:0 \
  --blue "http://127.0.0.1:$BLUE" --green "http://127.0.0.1:$GREEN" \
  --state-file "$WORK/state.json" > "$WORK/proxy.out" 2>"$WORK/proxy.err" &
PIDS+=($!)
PROXY_PID=$!
for _ in $(seq 100); do grep -qs listening "$WORK/proxy.out" && break; sleep 0.1; done
PROXY=$(awk '{print $4}' "$WORK/proxy.out")

# Same shape as frame-proxy's defaults: connect 2 s, response 30 s, request headers 10 s,
# idle pooled server connections kept 4 s (pool_idle_ms), at most 64 (pool_max_idle),
# X-Forwarded-For/Proto/Host set, a response header naming the color, no access log.
HAPORT=$((20000 + RANDOM % 20000))
cat > "$WORK/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s
  option http-keep-alive
  http-reuse safe
frontend fe
  bind 127.0.0.1:$HAPORT
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  default_backend be
backend be
  http-response set-header x-frame-color blue
  server blue 127.0.0.1:$BLUE pool-max-conn 64 pool-purge-delay 4s
CFG
haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
declare -A PID=([frame-proxy]=$PROXY_PID [haproxy]=$!)
sleep 0.5

declare -A URL=(
  [direct]="http://127.0.0.1:$BLUE$REQ_PATH"
  [frame-proxy]="http://$PROXY$REQ_PATH"
  [haproxy]="http://127.0.0.1:$HAPORT$REQ_PATH"
)
TARGETS=(direct frame-proxy haproxy)
for t in "${TARGETS[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${URL[$t]}")
  [ "$code" = 200 ] || { echo "$t answered $code on ${URL[$t]}" >&2; exit 1; }
done

declare -A P50 P99 RPS ERR
to_ms() { # wrk/wrk2 latency such as 812.00us, 1.23ms, 1.02s -> milliseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

fixed_run() { # target
  local t=$1 out=$WORK/fixed-$1
  if [ "$FIXED" = oha ]; then
    "$OHA" --no-tui --output-format json -q "$RATE" --latency-correction -z "${DURATION}s" \
      -c "$RATE_CONNS" -w "${URL[$t]}" > "$out.json"
    P50[$t]=$(jq -r '.latencyPercentiles.p50 * 1000 | . * 1000 | round / 1000' "$out.json")
    P99[$t]=$(jq -r '.latencyPercentiles.p99 * 1000 | . * 1000 | round / 1000' "$out.json")
    RPS[$t]=$(jq -r '.summary.requestsPerSec | round' "$out.json")
    ERR[$t]=$(jq -r '([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value]
      + [.errorDistribution | to_entries[] | .value]) | add // 0' "$out.json")
  else
    wrk2 -t2 -c"$RATE_CONNS" -d"${DURATION}s" -R"$RATE" --latency "${URL[$t]}" > "$out.txt"
    P50[$t]=$(to_ms "$(awk '$1 == "50.000%" {print $2}' "$out.txt")")
    P99[$t]=$(to_ms "$(awk '$1 == "99.000%" {print $2}' "$out.txt")")
    RPS[$t]=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$out.txt")
    ERR[$t]=$(awk '/Non-2xx|Socket errors/ {n++} END {print n + 0}' "$out.txt")
  fi
  echo "  $t: p50 ${P50[$t]} ms, p99 ${P99[$t]} ms, ${RPS[$t]} req/s, errors ${ERR[$t]}"
}

cpu_ticks() { # pid -> user + system clock ticks so far
  awk '{print $14 + $15}' "/proc/$1/stat"
}

declare -A RUNS TICKS REQS
max_run() { # target conns round
  local t=$1 c=$2 r=$3 out=$WORK/max-$1-$2-$3.txt before=0
  [ -n "${PID[$t]:-}" ] && before=$(cpu_ticks "${PID[$t]}")
  wrk -t2 -c"$c" -d"${ROUND_SECS}s" --latency "${URL[$t]}" > "$out"
  if [ -n "${PID[$t]:-}" ]; then
    TICKS[$t,$c]=$(( ${TICKS[$t,$c]:-0} + $(cpu_ticks "${PID[$t]}") - before ))
  fi
  REQS[$t,$c]=$(( ${REQS[$t,$c]:-0} + $(awk '/requests in/ {print $1}' "$out") ))
  local rps errs
  rps=$(awk '/^Requests\/sec/ {printf "%d", $2}' "$out")
  RUNS[$t,$c]="${RUNS[$t,$c]:-} $rps"
  errs=$(awk '/Non-2xx or 3xx responses/ {n += $NF} /Socket errors/ {n += 1} END {print n + 0}' "$out")
  echo "  round $r $t -c$c: $rps req/s (p50 $(awk '$1 == "50%" {print $2}' "$out"), p99 $(awk '$1 == "99%" {print $2}' "$out"), error lines $errs)"
}
lines() { tr ' ' '\n' | grep .; } # "a b c" -> one per line
median() { lines | sort -g | awk '{v[NR] = $1} END {
  if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
us_per_request() { # target conns
  [ -n "${PID[$1]:-}" ] || { echo "-"; return; }
  awk -v t="${TICKS[$1,$2]:-0}" -v n="${REQS[$1,$2]:-0}" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }'
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%F %H:%M UTC')"
echo "tools: $(haproxy -v | head -1 | cut -d' ' -f1-3); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2);" \
  "fixed rate: $FIXED $([ "$FIXED" = oha ] && "$OHA" --version | cut -d' ' -f2)"
echo "request: GET $REQ_PATH, ${DURATION}s per run; backend: debug test binary, 2 worker threads"
echo "warm-up (1 s each)"
for t in "${TARGETS[@]}"; do wrk -t1 -c"$RATE_CONNS" -d1s "${URL[$t]}" > /dev/null; done

if [ "$FIXED" != none ]; then
  echo "fixed rate: $RATE req/s, $RATE_CONNS connections ($FIXED)"
  for t in "${TARGETS[@]}"; do fixed_run "$t"; done
fi
echo "max throughput (wrk -t2, $ROUNDS rounds of ${ROUND_SECS}s per target, order rotated)"
declare -A MAX RATIO
for c in $MAX_CONNS; do
  for r in $(seq "$ROUNDS"); do
    for i in 0 1 2; do max_run "${TARGETS[$(( (r + i) % 3 ))]}" "$c" "$r"; done
  done
  for t in "${TARGETS[@]}"; do
    MAX[$t,$c]=$(echo "${RUNS[$t,$c]}" | median | awk '{printf "%d", $1}')
    # The ratio within each round (its runs shared the same moment's load), then the median.
    RATIO[$t,$c]=$(paste -d' ' <(echo "${RUNS[$t,$c]}" | lines) <(echo "${RUNS[haproxy,$c]}" | lines) |
      awk '{printf "%s ", ($2 > 0 ? $1 / $2 : 0)}' | median)
  done
done

# Summary.
delta() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; printf "%s%.3f", (d >= 0 ? "+" : ""), d }'; }
echo
echo "summary ($(date -u '+%F %H:%M UTC'), fixed rate ${DURATION}s, max throughput $ROUNDS x ${ROUND_SECS}s)"
header="| target | p50 ms @$RATE | p99 ms @$RATE | Δp50 ms | Δp99 ms | achieved req/s | errors |"
rule="| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for c in $MAX_CONNS; do
  header="$header max req/s -c$c | vs HAProxy -c$c | CPU µs/req -c$c |"
  rule="$rule ---: | ---: | ---: |"
done
echo "$header"
echo "$rule"
for t in "${TARGETS[@]}"; do
  if [ "$FIXED" != none ]; then
    row="| $t | ${P50[$t]} | ${P99[$t]} | $(delta "${P50[$t]}" "${P50[direct]}") |"
    row="$row $(delta "${P99[$t]}" "${P99[direct]}") | ${RPS[$t]} | ${ERR[$t]} |"
  else
    row="| $t | - | - | - | - | - | - |"
  fi
  for c in $MAX_CONNS; do
    row="$row ${MAX[$t,$c]} | $(printf '%.2f' "${RATIO[$t,$c]}") | $(us_per_request "$t" "$c") |"
  done
  echo "$row"
done
echo "(max req/s: median of the rounds; vs HAProxy: median of the rounds' ratios;"
echo " CPU µs/req: the proxy process's user + system time over all its rounds / requests served)"
if [ "$FIXED" != none ]; then
  awk -v d="$(delta "${P99[frame-proxy]}" "${P99[direct]}")" 'BEGIN {
    printf "goal Δp99 <= 1 ms at the fixed rate: frame-proxy %s ms -> %s\n", d, (d + 0 <= 1 ? "met" : "NOT met") }'
fi
for c in $MAX_CONNS; do
  awk -v r="${RATIO[frame-proxy,$c]}" -v c="$c" 'BEGIN {
    printf "goal throughput not below HAProxy, -c%s: %.2f x -> %s\n", c, r, (r + 0 >= 1 ? "met" : "NOT met") }'
done
