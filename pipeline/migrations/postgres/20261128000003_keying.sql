-- Keying lives in the store: users and their sessions, and one task per
-- keying pass of a field (two blind passes, then an arbitration when
-- they differ), claimed by lease like pages. Keep in step with
-- ../sqlite/ (same names).

ALTER TABLE events DROP CONSTRAINT events_entity_check;
ALTER TABLE events ADD CONSTRAINT events_entity_check
    CHECK (entity IN ('batch', 'document', 'page', 'field', 'file', 'task', 'user'));

-- fields: `value` stays what OCR read; `final_value` is what goes into
-- the index, with its `source` and the keyers' pseudonyms.
ALTER TABLE fields DROP CONSTRAINT fields_status_check;
ALTER TABLE fields ADD CONSTRAINT fields_status_check
    CHECK (status IN ('accepted', 'awaiting_keying', 'arbitration', 'keyed'));
ALTER TABLE fields ADD COLUMN final_value TEXT;
ALTER TABLE fields ADD COLUMN outcome TEXT CHECK (outcome IN ('value', 'illegible', 'empty'));
ALTER TABLE fields ADD COLUMN source TEXT CHECK (source IN ('ocr', 'double_keyed', 'arbitrated'));
ALTER TABLE fields ADD COLUMN keyers TEXT;
UPDATE fields SET final_value = value, outcome = 'value', source = 'ocr' WHERE status = 'accepted';

CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('keyer', 'arbiter', 'supervisor', 'admin')),
    password_hash TEXT NOT NULL,
    pseudonym     TEXT NOT NULL UNIQUE,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until  TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL REFERENCES users (name),
    csrf       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user ON sessions (user_name);

-- One row per pass: 1 and 2 are the blind keyings, 3 the arbitration.
-- UNIQUE (document_id, field, keyer) is the backstop that one person
-- never holds or does two passes of one field.
CREATE TABLE tasks (
    id            BIGSERIAL PRIMARY KEY,
    document_id   TEXT NOT NULL,
    field         TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('key', 'arbitrate')),
    pass          BIGINT NOT NULL CHECK (pass IN (1, 2, 3)),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'leased', 'done')),
    keyer         TEXT REFERENCES users (name),
    lease_token   TEXT,
    lease_expires TIMESTAMPTZ,
    leased_at     TIMESTAMPTZ,
    outcome       TEXT CHECK (outcome IN ('value', 'illegible', 'empty')),
    value         TEXT,
    keystrokes    BIGINT,
    active_ms     BIGINT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    done_at       TIMESTAMPTZ,
    UNIQUE (document_id, field, pass),
    UNIQUE (document_id, field, keyer),
    FOREIGN KEY (document_id, field) REFERENCES fields (document_id, name)
);
CREATE INDEX tasks_open ON tasks (kind, field, id) WHERE state IN ('queued', 'leased');
CREATE INDEX tasks_keyer ON tasks (keyer, leased_at);
CREATE INDEX tasks_done_at ON tasks (done_at);

INSERT INTO tasks (document_id, field, kind, pass, state)
    SELECT document_id, name, 'key', 1, 'queued' FROM fields WHERE status = 'awaiting_keying';
INSERT INTO tasks (document_id, field, kind, pass, state)
    SELECT document_id, name, 'key', 2, 'queued' FROM fields WHERE status = 'awaiting_keying';
