-- folio watch: batches taken from watch folders, the services that take
-- them, and batches held for an operator. Keep in step with ../postgres/
-- (same names).

-- What a batch came with when a watch service took it: the folder name as
-- dropped, the operator, the manifest (batch.toml as JSON), the page count
-- it announced and the count found, and why it is held (NULL = not held:
-- its documents may be packaged).
ALTER TABLE batches ADD COLUMN source_name TEXT;
ALTER TABLE batches ADD COLUMN operator TEXT;
ALTER TABLE batches ADD COLUMN manifest TEXT;
ALTER TABLE batches ADD COLUMN expected_pages BIGINT;
ALTER TABLE batches ADD COLUMN found_pages BIGINT;
ALTER TABLE batches ADD COLUMN held TEXT;

-- Running watch services: a heartbeat, and why one is not claiming
-- (`paused`, NULL = claiming). A service whose heartbeat is older than
-- its `stale_seconds` is dead: status ignores it and its claims may be
-- taken over.
CREATE TABLE watchers (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    folders       TEXT NOT NULL,
    paused        TEXT,
    stale_seconds DOUBLE PRECISION NOT NULL CHECK (stale_seconds > 0),
    started_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    heartbeat_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- One row per batch folder a service took: written before the rename
-- into `<folder>/.folio/claimed/<id>/`, so every claimed folder has an
-- owner; `watcher` changes only by compare-and-set when the owner died.
CREATE TABLE intakes (
    id          TEXT PRIMARY KEY,
    folder      TEXT NOT NULL,
    source_name TEXT NOT NULL,
    watcher     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('claiming', 'claimed', 'done', 'failed')),
    batch_id    TEXT REFERENCES batches (id),
    operator    TEXT,
    summary     TEXT,
    reason      TEXT,
    moved_to    TEXT,
    claimed_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX intakes_state ON intakes (state, folder);
CREATE INDEX intakes_batch ON intakes (batch_id);
