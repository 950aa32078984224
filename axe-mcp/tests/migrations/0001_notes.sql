-- A tiny per-entity table for the endpoint tests.
CREATE TABLE notes (
    id   text PRIMARY KEY,
    body text NOT NULL
);
