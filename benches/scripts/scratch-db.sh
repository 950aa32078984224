# Shared by replan.sh and scope-cost.sh (sourced, not run): a scratch database shaped like
# axe-isolation's, without axe. Schemas s0001…, each with `item (id int PRIMARY KEY, name
# text)` holding one row, a NOLOGIN role <prefix>_r0001… per schema with USAGE and SELECT
# on it, and the login role <prefix>_rt (NOINHERIT, a member of every one, SELECT on every
# item too) as axe-isolation's runtime role is.
#
# scratch_db_create <database> <role prefix>   create both, drop them again on EXIT
# scratch_db_grow <database> <role prefix> <from> <to>   add schemas and roles from..to

scratch_db_create() {
  local db=$1 prefix=$2
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"
  # shellcheck disable=SC2064 # expand now: the names are fixed for this run
  trap "scratch_db_drop $db $prefix" EXIT
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE ROLE ${prefix}_rt LOGIN NOINHERIT"
}

scratch_db_drop() {
  local db=$1 prefix=$2
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  psql -X -q -d postgres -At -c "SELECT rolname FROM pg_roles WHERE rolname LIKE '${prefix//_/\\_}\\_%'" |
    while read -r role; do psql -X -q -d postgres -c "DROP ROLE \"$role\"" || true; done
}

scratch_db_grow() {
  local db=$1 prefix=$2 from=$3 to=$4
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
DO \$\$
DECLARE s text; r text;
BEGIN
  FOR i IN $from..$to LOOP
    s := 's' || lpad(i::text, 4, '0');
    r := '${prefix}_r' || lpad(i::text, 4, '0');
    EXECUTE format('CREATE SCHEMA %I', s);
    EXECUTE format('CREATE TABLE %I.item (id int PRIMARY KEY, name text NOT NULL)', s);
    EXECUTE format('INSERT INTO %I.item VALUES (1, %L)', s, 'one');
    EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, ${prefix}_rt', s, r);
    EXECUTE format('GRANT SELECT ON %I.item TO %I, ${prefix}_rt', s, r);
    EXECUTE format('GRANT %I TO ${prefix}_rt', r);
  END LOOP;
END \$\$;
ANALYZE;
SQL
}
