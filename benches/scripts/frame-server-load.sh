#!/usr/bin/env bash
# Load benchmark of examples/frame-server (issue 7): `tools/call records_get` through the
# whole stack (Entra token validation, tenancy, session gate, entity transaction, audit row,
# commit) at fixed concurrency, measured with wrk (Debian package) for DURATION seconds per
# concurrency level. The server runs in dev mode with --ephemeral (its own PostgreSQL in a
# temporary folder, removed at exit); the token is minted once, before the load, from the
# dev-only /dev/token endpoint. Calls use the stateless 2026-07-28 form (no session), so each
# request is one complete tool call answered with plain JSON.
#
#   cargo build --release --example frame-server
#   DURATION=10 bash benches/scripts/frame-server-load.sh
#
# CONNS (default "1 8") are the concurrency levels; the server allows 8 concurrent calls per
# user by default, so more connections with one token measure 429s, not tool calls. Load
# generator, server and PostgreSQL share this machine's cores: compare within one run.
set -euo pipefail
TARGET=${CARGO_TARGET_DIR:-target}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"1 8"}
PORT=${PORT:-3790}
BIN=$TARGET/release/examples/frame-server
[ -x "$BIN" ] || { echo "missing $BIN: cargo build --release --example frame-server" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER=
cleanup() {
  if [ -n "$SERVER" ]; then
    kill -INT "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

BASE=http://127.0.0.1:$PORT
RUST_LOG=${RUST_LOG:-warn} "$BIN" --ephemeral --listen "127.0.0.1:$PORT" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER=$!
for _ in $(seq 1 240); do
  curl -sf "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.err" >&2; echo "the server exited" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$BASE/readyz" >/dev/null || { echo "the server did not become ready" >&2; exit 1; }

TOKEN=$(curl -sf "$BASE/dev/token?user=alice" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
[ -n "$TOKEN" ] || { echo "no dev token" >&2; exit 1; }

# One stateless 2026-07-28 tools/call body; the headers mirror the method and tool name.
call_body() { # name arguments-json
  printf '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"%s","arguments":%s,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"load","version":"0"}}}}' "$1" "$2"
}
call() { # name arguments-json
  curl -s "$BASE/frame/mcp" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H "Mcp-Name: $1" \
    -d "$(call_body "$1" "$2")"
}
put=$(call records_put '{"id":"load-1","body":{"customer":"axe","n":1,"note":"load test record"}}')
case $put in *'"isError":false'*) ;; *) echo "records_put failed: $put" >&2; exit 1 ;; esac
get=$(call records_get '{"id":"load-1"}')
case $get in *'"isError":false'*) ;; *) echo "records_get failed: $get" >&2; exit 1 ;; esac

# wrk's request: the same call, as Lua strings (the body has no single quotes or backslashes).
cat >"$WORK/get.lua" <<LUA
wrk.method = "POST"
wrk.body = '$(call_body records_get '{"id":"load-1"}')'
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "records_get"
LUA

echo "frame-server load: tools/call records_get, ${DURATION}s per level, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-6s %10s %10s %10s %10s\n' conns 'req/s' 'p50' 'p99' 'non-2xx'
for c in $CONNS; do
  threads=$(( c < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$c" -d"${DURATION}s" --latency -s "$WORK/get.lua" "$BASE/frame/mcp" >"$WORK/wrk-$c.txt"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk-$c.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk-$c.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk-$c.txt")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/wrk-$c.txt")
  printf '%-6s %10s %10s %10s %10s\n' "$c" "$rps" "$p50" "$p99" "${bad:-0}"
done
# A tool error would still be HTTP 200: check the call still answers as a success.
case $(call records_get '{"id":"load-1"}') in *'"isError":false'*) ;; *) echo "records_get failed after the load" >&2; exit 1 ;; esac
