-- The frame's JSON document store: one table per entity schema (the search path is the
-- entity's schema while migrations run, so the names are unqualified).
CREATE TABLE records (
    id         text PRIMARY KEY,
    body       jsonb NOT NULL,
    version    bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT records_id_shape CHECK (id ~ '^[A-Za-z0-9_.:-]{1,128}$')
);
