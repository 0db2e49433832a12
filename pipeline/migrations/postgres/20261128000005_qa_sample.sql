-- QA sample: a share of fields OCR would have accepted also goes to blind
-- double keying; `value` keeps what OCR read, so the keyed final value
-- measures OCR's error on accepted fields (`folio report accuracy`).
ALTER TABLE fields ADD COLUMN qa_sample BOOLEAN NOT NULL DEFAULT FALSE;
