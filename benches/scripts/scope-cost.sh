#!/usr/bin/env bash
# What the entity scope costs the server and a C client, without sqlx or axe in the way:
# pgbench runs two scripts interleaved in one run (-f plain -f scoped, equal weights), one
# client, simple protocol, against a scratch database with N schemas and N roles, the login
# role NOINHERIT and a member of all N (as axe-isolation's runtime role is):
#   plain:  BEGIN; SELECT name FROM s0001.item WHERE id = 1; COMMIT;
#   scoped: SET LOCAL ROLE r<k>; SET LOCAL search_path TO s<k>, pg_temp; BEGIN  (one message,
#           like the folded `BEGIN` of `Isolation::begin`); SELECT name FROM item WHERE id = 1;
#           COMMIT;   with k fixed (one entity among the N)
# and prints each script's average latency and the ratio, for N = 1, 100 and 1,000.
# The Rust benchmark (`cargo bench -p axe-benches --bench isolation`) measures the same
# comparison through sqlx and `EntityTx`; this one tells how much of it is the server's.
#
# Usage: PGHOST=... PGPORT=... PGUSER=<a superuser> benches/scripts/scope-cost.sh
# Creates the scratch database `axe_scope` and roles `axe_scope_*`, and drops them at the end.
# Needs psql and pgbench (PostgreSQL's client tools). DURATION (seconds per run, default 15)
# and RUNS (default 2) are adjustable.
set -euo pipefail

DURATION=${DURATION:-15}
RUNS=${RUNS:-2}
DB=axe_scope
WORK=$(mktemp -d)
chmod 755 "$WORK"
# shellcheck source=benches/scripts/scratch-db.sh
. "$(dirname "$0")/scratch-db.sh"
scratch_db_create "$DB" axe_scope
# Replaces the EXIT trap of scratch_db_create: drop the database and roles, then the folder.
trap 'scratch_db_drop "$DB" axe_scope; rm -rf "$WORK"' EXIT
have=0
for n in 1 100 1000; do
  scratch_db_grow "$DB" axe_scope $((have + 1)) "$n"
  have=$n
  k=$(printf '%04d' $(((n + 1) / 2)))
  printf 'BEGIN;\nSELECT name FROM s0001.item WHERE id = 1;\nCOMMIT;\n' > "$WORK/plain.sql"
  printf 'SET LOCAL ROLE axe_scope_r%s \\; SET LOCAL search_path TO s%s, pg_temp \\; BEGIN;\nSELECT name FROM item WHERE id = 1;\nCOMMIT;\n' \
    "$k" "$k" > "$WORK/scoped.sql"
  for run in $(seq "$RUNS"); do
    out=$(pgbench -n -M simple -c 1 -T "$DURATION" -U axe_scope_rt \
      -f "$WORK/plain.sql" -f "$WORK/scoped.sql" "$DB" 2>&1)
    lat=$(grep -A6 '^SQL script' <<<"$out" | sed -n 's/.*latency average = \([0-9.]*\) ms/\1/p')
    plain=$(sed -n 1p <<<"$lat")
    scoped=$(sed -n 2p <<<"$lat")
    awk -v n="$n" -v r="$run" -v p="$plain" -v s="$scoped" \
      'BEGIN { printf "entities %4d run %d: plain %.1f us  scoped %.1f us  scoped/plain %.3f\n", n, r, p * 1000, s * 1000, s / p }'
  done
done
