-- Pixels over a file's pages, from the survey at arrival: a page's share
-- of them is what a claim orders pages by (longest job first), since
-- compressed bytes say little about a Group 4 page. 0 for files recorded
-- before. Keep in step with ../sqlite/ (same names).
ALTER TABLE files ADD COLUMN pixels BIGINT NOT NULL DEFAULT 0;
