-- 1 from the moment a batch is packaged until its delivery (index.csv,
-- index.xlsx, delivery.json) is written: a worker that finds a batch
-- still owed its delivery writes it, so a closing process that dies in
-- between loses nothing. Batches packaged before this are taken as
-- delivered. Keep in step with the other dialect's file (same names).
ALTER TABLE batches ADD COLUMN delivery_due INTEGER NOT NULL DEFAULT 0;
