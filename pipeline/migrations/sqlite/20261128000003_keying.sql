-- Keying lives in the store: users and their sessions, and one task per
-- keying pass of a field (two blind passes, then an arbitration when
-- they differ), claimed by lease like pages. Keep in step with
-- ../postgres/ (same names). SQLite cannot alter a CHECK, so events and
-- fields are rebuilt.

CREATE TABLE events_v2 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    actor      TEXT NOT NULL,
    entity     TEXT NOT NULL CHECK (entity IN ('batch', 'document', 'page', 'field', 'file', 'task', 'user')),
    entity_id  TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT ''
);
INSERT INTO events_v2 SELECT id, at, actor, entity, entity_id, from_state, to_state, reason FROM events ORDER BY id;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_entity ON events (entity, entity_id);
CREATE INDEX events_actor ON events (actor);

-- fields: `value` stays what OCR read; `final_value` is what goes into
-- the index, with its `source` and the keyers' pseudonyms.
CREATE TABLE fields_v2 (
    document_id TEXT NOT NULL REFERENCES documents (id),
    name        TEXT NOT NULL,
    value       TEXT,
    confidence  DOUBLE PRECISION NOT NULL,
    page        BIGINT,
    bbox        TEXT,
    status      TEXT NOT NULL CHECK (status IN ('accepted', 'awaiting_keying', 'arbitration', 'keyed')),
    reason      TEXT,
    final_value TEXT,
    outcome     TEXT CHECK (outcome IN ('value', 'illegible', 'empty')),
    source      TEXT CHECK (source IN ('ocr', 'double_keyed', 'arbitrated')),
    keyers      TEXT,
    PRIMARY KEY (document_id, name)
);
INSERT INTO fields_v2 (document_id, name, value, confidence, page, bbox, status, reason, final_value, outcome, source)
    SELECT document_id, name, value, confidence, page, bbox, status, reason,
           CASE WHEN status = 'accepted' THEN value END,
           CASE WHEN status = 'accepted' THEN 'value' END,
           CASE WHEN status = 'accepted' THEN 'ocr' END
    FROM fields;
DROP TABLE fields;
ALTER TABLE fields_v2 RENAME TO fields;
CREATE INDEX fields_status ON fields (status);

CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('keyer', 'arbiter', 'supervisor', 'admin')),
    password_hash TEXT NOT NULL,
    pseudonym     TEXT NOT NULL UNIQUE,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until  TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL REFERENCES users (name),
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_seen  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX sessions_user ON sessions (user_name);

-- One row per pass: 1 and 2 are the blind keyings, 3 the arbitration.
-- UNIQUE (document_id, field, keyer) is the backstop that one person
-- never holds or does two passes of one field.
CREATE TABLE tasks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id   TEXT NOT NULL,
    field         TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('key', 'arbitrate')),
    pass          BIGINT NOT NULL CHECK (pass IN (1, 2, 3)),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'leased', 'done')),
    keyer         TEXT REFERENCES users (name),
    lease_token   TEXT,
    lease_expires TEXT,
    leased_at     TEXT,
    outcome       TEXT CHECK (outcome IN ('value', 'illegible', 'empty')),
    value         TEXT,
    keystrokes    BIGINT,
    active_ms     BIGINT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    done_at       TEXT,
    UNIQUE (document_id, field, pass),
    UNIQUE (document_id, field, keyer),
    FOREIGN KEY (document_id, field) REFERENCES fields (document_id, name)
);
CREATE INDEX tasks_open ON tasks (kind, field, id) WHERE state IN ('queued', 'leased');
CREATE INDEX tasks_keyer ON tasks (keyer, leased_at);
CREATE INDEX tasks_done_at ON tasks (done_at);

-- Fields already waiting get their two passes.
INSERT INTO tasks (document_id, field, kind, pass, state)
    SELECT document_id, name, 'key', 1, 'queued' FROM fields WHERE status = 'awaiting_keying';
INSERT INTO tasks (document_id, field, kind, pass, state)
    SELECT document_id, name, 'key', 2, 'queued' FROM fields WHERE status = 'awaiting_keying';
