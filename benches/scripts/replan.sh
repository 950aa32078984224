#!/usr/bin/env bash
# Server-side cost of a search-path change for a cached statement, without any client in the
# way: the "Planning Time" that PostgreSQL reports for `EXPLAIN (ANALYZE, SUMMARY) EXECUTE` of
# a prepared `SELECT name FROM item WHERE id = $1`, 3,000 transactions per case, each
# `BEGIN; SET LOCAL search_path ...; [SET LOCAL ROLE ...;] EXPLAIN ... EXECUTE q(1); COMMIT`.
#
# Usage: PGHOST=... PGPORT=... PGUSER=<a superuser> benches/scripts/replan.sh
# Creates the scratch database `axe_replan` and roles `axe_replan_*`, and drops them at the end.
# Needs psql and python3. Explains the `rotating/plain` ratio of `cargo bench --bench isolation`.
set -euo pipefail

N=1000
DB=axe_replan
# shellcheck source=benches/scripts/scratch-db.sh
. "$(dirname "$0")/scratch-db.sh"
scratch_db_create "$DB" axe_replan
scratch_db_grow "$DB" axe_replan 1 "$N"

# script <schemas to rotate over> <role|norole>
script() {
  python3 - "$1" "$2" <<'PY'
import sys
n, role = int(sys.argv[1]), sys.argv[2] == "role"
print("SET search_path TO s0001; PREPARE q(int) AS SELECT name FROM item WHERE id = $1;")
print("RESET search_path;")
for i in range(3000):
    k = i % n + 1
    set_role = f"SET LOCAL ROLE axe_replan_r{k:04}; " if role else ""
    print(f"BEGIN; SET LOCAL search_path TO s{k:04}; {set_role}"
          "EXPLAIN (ANALYZE, SUMMARY, TIMING OFF) EXECUTE q(1); COMMIT;")
PY
}

percentiles() {
  grep -o "$1: [0-9.]*" | awk '{print $NF * 1000}' | sort -n |
    awk '{a[NR] = $1} END {printf "p10 %5.1f us  p50 %5.1f us", a[int(NR * 0.1)], a[int(NR * 0.5)]}'
}

for mode in auto force_custom_plan; do
  for n in 1 100 $N; do
    for role in norole role; do
      out=$(script "$n" "$role" |
        PGOPTIONS="-c plan_cache_mode=$mode" psql -X -d "$DB" -U axe_replan_rt 2>&1)
      printf '%-18s schemas %4d %-6s planning: %s  execution: %s\n' "$mode" "$n" "$role" \
        "$(percentiles "Planning Time" <<<"$out")" "$(percentiles "Execution Time" <<<"$out")"
    done
  done
done
