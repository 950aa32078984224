-- axe-audit: wrapped per-entity data keys, in the operator schema `axe_audit`. Run as the owner
-- (DDL) role by `Envelope::install`. Deleting an entity's rows here is crypto-shredding.
CREATE SCHEMA IF NOT EXISTS axe_audit;
REVOKE ALL ON SCHEMA axe_audit FROM PUBLIC;
CREATE TABLE IF NOT EXISTS axe_audit.entity_keys (
    entity         text        NOT NULL,
    dek_version    integer     NOT NULL CHECK (dek_version >= 1),
    master_version integer     NOT NULL,
    wrapped        bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, dek_version)
);
REVOKE ALL ON TABLE axe_audit.entity_keys FROM PUBLIC;
