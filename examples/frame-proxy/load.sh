#!/usr/bin/env bash
# Load figure for frame-proxy: wrk against one test backend directly, through frame-proxy
# (release build) and through HAProxy configured the same way (HTTP/1.1 keep-alive to the
# backend). Loopback only, bounded (DURATION seconds per run). Needs: wrk, haproxy (Debian).
#   cargo build --release --example frame-proxy
#   cargo test -p axe-examples --no-run   # builds the test binary that holds the backend
#   bash examples/frame-proxy/load.sh
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
PROXY_BIN=$TARGET/release/examples/frame-proxy
TEST_BIN=$(ls -t "$TARGET"/debug/deps/frame_proxy-* | grep -v '\.d$' | head -1)
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

start_backend() { # color -> port
  FP_BACKEND_COLOR=$1 "$TEST_BIN" --exact backend_process --include-ignored --nocapture \
    > "$WORK/$1.out" 2>/dev/null &
  PIDS+=($!)
  for _ in $(seq 100); do
    grep -q BACKEND_PORT= "$WORK/$1.out" 2>/dev/null && break; sleep 0.1
  done
  sed -n 's/.*BACKEND_PORT=//p' "$WORK/$1.out"
}
BLUE=$(start_backend blue)
GREEN=$(start_backend green)

FRAME_PROXY_LOG=warn "$PROXY_BIN" run --listen 127.0.0.1:0 --control 127.0.0.1:0 \
  --blue "http://127.0.0.1:$BLUE" --green "http://127.0.0.1:$GREEN" \
  --state-file "$WORK/state.json" > "$WORK/proxy.out" 2>"$WORK/proxy.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -qs listening "$WORK/proxy.out" && break; sleep 0.1; done
PROXY=$(awk '{print $4}' "$WORK/proxy.out")

HAPORT=$((20000 + RANDOM % 20000))
cat > "$WORK/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse safe
frontend fe
  bind 127.0.0.1:$HAPORT
  option forwardfor
  default_backend be
backend be
  server blue 127.0.0.1:$BLUE
CFG
haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
sleep 0.5

run() { # name url
  echo "== $1"
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$2" | grep -E "Requests/sec|^ +(50|99)%"
}
echo "machine: $(nproc) cores; $(date -u +%F); wrk -t2 -c$CONNS -d${DURATION}s, GET /readyz"
run direct "http://127.0.0.1:$BLUE/readyz"
run frame-proxy "http://$PROXY/readyz"
run haproxy "http://127.0.0.1:$HAPORT/readyz"
