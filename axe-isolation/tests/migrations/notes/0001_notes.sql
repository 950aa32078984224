-- Applied in each entity's schema by the owner role, with the search path set to that schema.
CREATE TABLE notes (
    id bigserial PRIMARY KEY,
    owner text NOT NULL,
    body text NOT NULL
);
