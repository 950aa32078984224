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
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
cleanup() {
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  psql -X -q -d postgres -At -c "SELECT rolname FROM pg_roles WHERE rolname LIKE 'axe\_replan\_%'" |
    while read -r role; do psql -X -q -d postgres -c "DROP ROLE \"$role\"" || true; done
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
CREATE ROLE axe_replan_rt LOGIN NOINHERIT;
DO \$\$
DECLARE s text; r text;
BEGIN
  FOR i IN 1..$N LOOP
    s := 's' || lpad(i::text, 4, '0');
    r := 'axe_replan_r' || lpad(i::text, 4, '0');
    EXECUTE format('CREATE SCHEMA %I', s);
    EXECUTE format('CREATE TABLE %I.item (id int PRIMARY KEY, name text NOT NULL)', s);
    EXECUTE format('INSERT INTO %I.item VALUES (1, %L)', s, 'one');
    EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, axe_replan_rt', s, r);
    EXECUTE format('GRANT SELECT ON %I.item TO %I, axe_replan_rt', s, r);
    EXECUTE format('GRANT %I TO axe_replan_rt', r);
  END LOOP;
END \$\$;
ANALYZE;
SQL

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
