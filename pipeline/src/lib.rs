//! Folio's pipeline: the store (the source of truth for all work), ingest
//! into the object store, workers that claim pages by lease and run
//! `folio_stages` on them, documents finished exactly once into packages,
//! and the command line. The flow, one direction:
//! `cli` → `run` / `ingest` / `work` → `process` (a page's stages) and
//! `document` (a document's package) → `export` (layout on disk) and
//! `store`. The `folio` binary is a thin shell over `cli::execute`.

pub mod acceptance;
pub mod batch;
pub mod chart;
pub mod cli;
pub mod delivery;
pub mod document;
pub mod error;
pub mod eval;
pub mod export;
pub mod ingest;
pub mod inspect;
pub mod layout;
pub mod metadata;
pub mod monthly;
pub mod objects;
pub mod omp;
pub mod plan;
pub mod process;
pub mod progress;
pub mod qa;
pub mod qc;
pub mod report;
pub mod review;
pub mod run;
pub mod searchable;
pub mod settings;
pub mod status;
pub mod store;
pub mod table;
pub mod verify;
pub mod watch;
pub mod web;
pub mod work;
