-- no-transaction
-- Acceptance sampling and the operator role. Keep in step with
-- ../postgres/ (same names). SQLite cannot alter a CHECK, so `users` is
-- rebuilt; sessions and tasks refer to it, so foreign keys are off for
-- the rebuild (the SQLite "12-step" recipe), which needs its own
-- transaction: the first line tells sqlx not to open one.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE users_v2 (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('keyer', 'arbiter', 'supervisor', 'admin', 'operator')),
    password_hash TEXT NOT NULL,
    pseudonym     TEXT NOT NULL UNIQUE,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until  TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO users_v2 (name, role, password_hash, pseudonym, failed_logins, locked_until, created_at)
    SELECT name, role, password_hash, pseudonym, failed_logins, locked_until, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_v2 RENAME TO users;

-- One row per drawn plan: a batch's pages sampled with a seed. The seed
-- is text (an unsigned 64-bit number); the same seed always answers with
-- the plan recorded here.
CREATE TABLE acceptance_plans (
    batch_id    TEXT NOT NULL REFERENCES batches (id),
    seed        TEXT NOT NULL,
    aql         DOUBLE PRECISION NOT NULL,
    lot_size    BIGINT NOT NULL,
    code_letter TEXT NOT NULL,
    sample_size BIGINT NOT NULL,
    drawn_by    TEXT NOT NULL,
    drawn_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (batch_id, seed)
);

-- The sampled pages with the inspector's result, in draw order.
CREATE TABLE acceptance_items (
    batch_id     TEXT NOT NULL,
    seed         TEXT NOT NULL,
    ord          BIGINT NOT NULL,
    document_id  TEXT NOT NULL REFERENCES documents (id),
    page         BIGINT NOT NULL,
    result       TEXT CHECK (result IN ('pass', 'fail')),
    reason       TEXT,
    inspector    TEXT,
    inspected_at TEXT,
    PRIMARY KEY (batch_id, seed, ord),
    FOREIGN KEY (batch_id, seed) REFERENCES acceptance_plans (batch_id, seed)
);

COMMIT;
PRAGMA foreign_keys = ON;
