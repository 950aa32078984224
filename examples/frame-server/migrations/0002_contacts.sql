-- Contacts: name, email and phone are sealed by axe-audit's PII envelope (AES-256-GCM under
-- the entity's data key, bound to table, column and row id); the email is found through its
-- blind index (HMAC keyed from the same data key), never through its clear text.
CREATE TABLE contacts (
    id          uuid PRIMARY KEY,
    name_sealed bytea NOT NULL,
    email_sealed bytea NOT NULL,
    email_index bytea NOT NULL,
    phone_sealed bytea,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_email_index ON contacts (email_index);
