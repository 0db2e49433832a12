-- Review holds: flags per page, the decision taken on each (keep, drop,
-- re-scan) with who took it, re-scanned pages that take a rejected
-- page's place, and documents held until their flags are decided. Keep
-- in step with ../postgres/ (same names).

-- A held document stays `finishing` without a lease; claims skip it
-- until its last holding flag is decided.
ALTER TABLE documents ADD COLUMN review_pending BOOLEAN NOT NULL DEFAULT 0;

-- The decision on a page (NULL: none yet), who took it, when and why.
ALTER TABLE pages ADD COLUMN decision TEXT CHECK (decision IN ('keep', 'drop', 'rescan'));
ALTER TABLE pages ADD COLUMN decided_by TEXT;
ALTER TABLE pages ADD COLUMN decided_at TEXT;
ALTER TABLE pages ADD COLUMN decision_reason TEXT;
-- A re-scanned page takes the place (and the seq) of the page it
-- replaces; the replaced page keeps its row (seq set to -id) and both
-- point at each other.
ALTER TABLE pages ADD COLUMN replaced_by BIGINT REFERENCES pages (id);
ALTER TABLE pages ADD COLUMN replaces BIGINT REFERENCES pages (id);
CREATE INDEX pages_rescan_open ON pages (document_id) WHERE decision = 'rescan' AND replaced_by IS NULL;

-- The flags found when the page's document was finished; `holds` says
-- whether [review] hold listed the flag then.
CREATE TABLE page_flags (
    page_id BIGINT NOT NULL REFERENCES pages (id),
    flag    TEXT NOT NULL CHECK (flag IN ('blank', 'rescan', 'qc', 'orientation', 'deskew', 'page_count')),
    detail  TEXT NOT NULL,
    holds   BOOLEAN NOT NULL,
    PRIMARY KEY (page_id, flag)
);
