-- Folio store, SQLite dialect. Keep in step with ../postgres/ (same file names).
CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    source      TEXT NOT NULL,
    class       TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX batches_source ON batches (source);

CREATE TABLE batch_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id    TEXT NOT NULL REFERENCES batches (id),
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
);

CREATE TABLE files (
    sha256        TEXT PRIMARY KEY,
    batch_id      TEXT NOT NULL REFERENCES batches (id),
    original_name TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    pages         BIGINT NOT NULL,
    state         TEXT NOT NULL,
    reason        TEXT,
    arrived_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX files_batch ON files (batch_id);

CREATE TABLE documents (
    id           TEXT PRIMARY KEY,
    batch_id     TEXT NOT NULL REFERENCES batches (id),
    seq          BIGINT NOT NULL,
    class        TEXT NOT NULL,
    state        TEXT NOT NULL,
    package_path TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (batch_id, seq)
);

CREATE TABLE pages (
    document_id     TEXT NOT NULL REFERENCES documents (id),
    seq             BIGINT NOT NULL,
    file_sha256     TEXT NOT NULL REFERENCES files (sha256),
    file_page       BIGINT NOT NULL,
    width           BIGINT NOT NULL,
    height          BIGINT NOT NULL,
    dpi             DOUBLE PRECISION,
    color           TEXT NOT NULL,
    skew_deg        DOUBLE PRECISION NOT NULL,
    orientation_deg BIGINT NOT NULL,
    blank           BIGINT NOT NULL,
    qc_pass         BIGINT NOT NULL,
    qc_reasons      TEXT NOT NULL,
    phash           TEXT NOT NULL,
    rescan_of       TEXT,
    ocr_text        TEXT NOT NULL,
    ocr_confidence  DOUBLE PRECISION NOT NULL,
    words           TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    failure         TEXT,
    image_ms        DOUBLE PRECISION NOT NULL,
    ocr_ms          DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (document_id, seq)
);

CREATE TABLE fields (
    document_id TEXT NOT NULL REFERENCES documents (id),
    name        TEXT NOT NULL,
    value       TEXT,
    confidence  DOUBLE PRECISION NOT NULL,
    page        BIGINT,
    bbox        TEXT,
    status      TEXT NOT NULL,
    reason      TEXT,
    PRIMARY KEY (document_id, name)
);
CREATE INDEX fields_status ON fields (status);
