-- axe-audit: the operator log (events that belong to no entity's log: refused sign-ins,
-- provisioning, shredding, key rotation), with its own chain. Run as the owner (DDL) role by
-- `OperatorLog::install`; same rules as the per-entity `audit_log`.
CREATE SCHEMA IF NOT EXISTS axe_audit;
REVOKE ALL ON SCHEMA axe_audit FROM PUBLIC;
CREATE TABLE IF NOT EXISTS axe_audit.operator_log (
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
REVOKE ALL ON TABLE axe_audit.operator_log FROM PUBLIC;

CREATE OR REPLACE FUNCTION axe_audit.operator_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $axe$
BEGIN
    RAISE EXCEPTION 'operator_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$axe$;

CREATE OR REPLACE TRIGGER operator_log_no_update_delete
    BEFORE UPDATE OR DELETE ON axe_audit.operator_log
    FOR EACH ROW EXECUTE FUNCTION axe_audit.operator_log_refuse_change();

CREATE OR REPLACE TRIGGER operator_log_no_truncate
    BEFORE TRUNCATE ON axe_audit.operator_log
    FOR EACH STATEMENT EXECUTE FUNCTION axe_audit.operator_log_refuse_change();
