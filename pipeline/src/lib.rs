//! Folio's pipeline: batches, the store, the runner that drives pages
//! through `folio_stages`, packages, and the command line. The `folio`
//! binary is a thin shell over `cli::execute`.

pub mod batch;
pub mod cli;
pub mod document;
pub mod error;
pub mod export;
pub mod ingest;
pub mod inspect;
pub mod omp;
pub mod progress;
pub mod qc;
pub mod runner;
pub mod settings;
pub mod store;
