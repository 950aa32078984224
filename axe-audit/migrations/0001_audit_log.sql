-- axe-audit: the per-entity audit log. Runs as the owner (DDL) role with search_path set to
-- the entity's schema (axe-isolation's per-entity migrations).

CREATE TABLE audit_log (
    seq                bigint      PRIMARY KEY CHECK (seq >= 1),
    id                 uuid        NOT NULL UNIQUE,
    occurred_at        timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL,
    customer           text        NOT NULL,
    entity             text        NOT NULL,
    actor_tid          text,
    actor_oid          text,
    actor_client_id    text,
    actor_display_name text,
    action             text        NOT NULL,
    target_type        text,
    target_id          text,
    outcome            text        NOT NULL,
    outcome_code       text,
    request_id         text,
    session_id         text,
    source_ip          text,
    source_user_agent  text,
    via                text,
    args_digest        text,
    prev_hash          bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash               bytea       NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE INDEX audit_log_occurred_at ON audit_log (occurred_at);
CREATE INDEX audit_log_actor ON audit_log (actor_tid, actor_oid);
CREATE INDEX audit_log_action ON audit_log (action);

-- Second wall behind the revoked privileges: even a role that holds UPDATE, DELETE or
-- TRUNCATE (the owner) is refused while the triggers are enabled.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $axe$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$axe$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- The schema's default privileges gave the entity role SELECT, INSERT, UPDATE, DELETE on the
-- new table: leave every grantee other than the owner with SELECT and INSERT only.
DO $axe$
DECLARE
    r record;
BEGIN
    REVOKE ALL ON TABLE audit_log FROM PUBLIC;
    FOR r IN
        SELECT DISTINCT grantee FROM information_schema.role_table_grants
        WHERE table_schema = current_schema() AND table_name = 'audit_log'
          AND grantee <> current_user
    LOOP
        EXECUTE format('REVOKE ALL ON TABLE %I.audit_log FROM %I', current_schema(), r.grantee);
        EXECUTE format('GRANT SELECT, INSERT ON TABLE %I.audit_log TO %I', current_schema(), r.grantee);
    END LOOP;
END
$axe$;
