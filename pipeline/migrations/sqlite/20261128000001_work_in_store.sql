-- Work lives in the store: a batch's documents and pages are queued at
-- ingest and claimed by lease (owner, token, expiry); every state change
-- is an event with an actor. Keep in step with ../postgres/ (same names).
-- SQLite cannot alter columns, so documents, pages and fields are rebuilt.

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    actor      TEXT NOT NULL,
    entity     TEXT NOT NULL CHECK (entity IN ('batch', 'document', 'page', 'field', 'file')),
    entity_id  TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_entity ON events (entity, entity_id);
CREATE INDEX events_actor ON events (actor);
INSERT INTO events (at, actor, entity, entity_id, from_state, to_state, reason)
    SELECT at, 'folio (before actors were recorded)', 'batch', batch_id, from_state, to_state, reason
    FROM batch_events ORDER BY id;
DROP TABLE batch_events;

ALTER TABLE batches ADD COLUMN out_dir TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN quarantine_dir TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN next_doc_seq BIGINT NOT NULL DEFAULT 1;
ALTER TABLE batches ADD COLUMN docs_left BIGINT NOT NULL DEFAULT 0;
UPDATE batches SET next_doc_seq = 1 + COALESCE((SELECT MAX(seq) FROM documents d WHERE d.batch_id = batches.id), 0);
UPDATE batches SET state = 'processing' WHERE state = 'received';

ALTER TABLE fields RENAME TO fields_v1;
ALTER TABLE pages RENAME TO pages_v1;
ALTER TABLE documents RENAME TO documents_v1;
DROP INDEX fields_status;

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    batch_id      TEXT NOT NULL REFERENCES batches (id),
    seq           BIGINT NOT NULL,
    class         TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'finishing', 'packaged', 'awaiting_keying', 'failed')),
    pages         BIGINT NOT NULL,
    pages_left    BIGINT NOT NULL CHECK (pages_left >= 0),
    lease_owner   TEXT,
    lease_token   TEXT,
    lease_expires TEXT,
    package_path  TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at   TEXT,
    UNIQUE (batch_id, seq)
);
CREATE INDEX documents_state ON documents (state, lease_expires);

CREATE TABLE pages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id     TEXT NOT NULL REFERENCES documents (id),
    seq             BIGINT NOT NULL,
    file_sha256     TEXT NOT NULL REFERENCES files (sha256),
    file_page       BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'leased', 'done', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_token     TEXT,
    lease_expires   TEXT,
    width           BIGINT,
    height          BIGINT,
    dpi             DOUBLE PRECISION,
    color           TEXT,
    skew_deg        DOUBLE PRECISION,
    orientation_deg BIGINT,
    blank           BOOLEAN,
    qc_pass         BOOLEAN,
    qc_reasons      TEXT,
    phash           TEXT,
    report          TEXT,
    rescan_of       TEXT,
    ocr_text        TEXT,
    ocr_confidence  DOUBLE PRECISION,
    words           TEXT,
    derived_path    TEXT,
    failure         TEXT,
    image_ms        DOUBLE PRECISION,
    ocr_ms          DOUBLE PRECISION,
    done_by         TEXT,
    done_at         TEXT,
    UNIQUE (document_id, seq)
);
CREATE INDEX pages_state ON pages (state, id);
-- Claims walk this in page order: done pages never have to be skipped.
CREATE INDEX pages_claimable ON pages (id) WHERE state IN ('queued', 'leased');
CREATE INDEX pages_owner ON pages (lease_owner);
CREATE INDEX pages_done_at ON pages (done_at);

CREATE TABLE fields (
    document_id TEXT NOT NULL REFERENCES documents (id),
    name        TEXT NOT NULL,
    value       TEXT,
    confidence  DOUBLE PRECISION NOT NULL,
    page        BIGINT,
    bbox        TEXT,
    status      TEXT NOT NULL CHECK (status IN ('accepted', 'awaiting_keying')),
    reason      TEXT,
    PRIMARY KEY (document_id, name)
);
CREATE INDEX fields_status ON fields (status);

INSERT INTO documents (id, batch_id, seq, class, state, pages, pages_left, package_path, created_at, finished_at)
    SELECT d.id, d.batch_id, d.seq, d.class, d.state,
           (SELECT COUNT(*) FROM pages_v1 p WHERE p.document_id = d.id), 0, d.package_path, d.created_at, d.created_at
    FROM documents_v1 d;
INSERT INTO pages (document_id, seq, file_sha256, file_page, state, attempts, width, height, dpi, color, skew_deg,
                   orientation_deg, blank, qc_pass, qc_reasons, phash, rescan_of, ocr_text, ocr_confidence, words,
                   failure, image_ms, ocr_ms, done_by, done_at)
    SELECT document_id, seq, file_sha256, file_page, CASE WHEN outcome = 'ok' THEN 'done' ELSE 'failed' END, 1,
           width, height, dpi, color, skew_deg, orientation_deg, blank <> 0, qc_pass <> 0, qc_reasons, phash,
           rescan_of, ocr_text, ocr_confidence, words, failure, image_ms, ocr_ms,
           'folio (before actors were recorded)', NULL
    FROM pages_v1 ORDER BY document_id, seq;
INSERT INTO fields SELECT document_id, name, value, confidence, page, bbox, status, reason FROM fields_v1;

-- Files an interrupted run of the old runner recorded but never put in a
-- document had no queued work; forget them so the next ingest of their
-- folder queues them (their content is still in the input folder).
DELETE FROM files WHERE state = 'arrived' AND sha256 NOT IN (SELECT file_sha256 FROM pages_v1);

DROP TABLE fields_v1;
DROP TABLE pages_v1;
DROP TABLE documents_v1;
