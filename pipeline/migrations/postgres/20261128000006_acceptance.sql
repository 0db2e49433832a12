-- Acceptance sampling and the operator role. Keep in step with
-- ../sqlite/ (same names).
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('keyer', 'arbiter', 'supervisor', 'admin', 'operator'));

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
    drawn_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
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
    inspected_at TIMESTAMPTZ,
    PRIMARY KEY (batch_id, seed, ord),
    FOREIGN KEY (batch_id, seed) REFERENCES acceptance_plans (batch_id, seed)
);
