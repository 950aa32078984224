-- axe-audit: wrapped per-entity data keys, in the operator schema `axe_audit`. Run as the owner
-- (DDL) role by `Envelope::install`.
--
-- Crypto-shredding overwrites `wrapped` with NULL and sets `shredded_at`: the row stays as a
-- tombstone, so a value sealed under a shredded version fails as "shredded" (never as
-- "tampered" under a fresh key) and versions are never reused. `seals` counts nonces reserved
-- under the key (in batches, ahead of use) to force a new version long before AES-GCM's
-- random-nonce bound of 2^32 messages per key.
CREATE SCHEMA IF NOT EXISTS axe_audit;
REVOKE ALL ON SCHEMA axe_audit FROM PUBLIC;
CREATE TABLE IF NOT EXISTS axe_audit.entity_keys (
    entity         text        NOT NULL,
    dek_version    integer     NOT NULL CHECK (dek_version >= 1),
    master_version integer     NOT NULL,
    wrapped        bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    shredded_at    timestamptz,
    seals          bigint      NOT NULL DEFAULT 0 CHECK (seals >= 0),
    PRIMARY KEY (entity, dek_version),
    CONSTRAINT entity_keys_shredded_has_no_key CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL))
);
-- Tables created by an earlier 0.1.0 build.
ALTER TABLE axe_audit.entity_keys ALTER COLUMN wrapped DROP NOT NULL;
ALTER TABLE axe_audit.entity_keys ADD COLUMN IF NOT EXISTS shredded_at timestamptz;
ALTER TABLE axe_audit.entity_keys ADD COLUMN IF NOT EXISTS seals bigint NOT NULL DEFAULT 0;
REVOKE ALL ON TABLE axe_audit.entity_keys FROM PUBLIC;
