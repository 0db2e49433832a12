//! Folio's pure page stages. Each module is one stage: image or bytes in,
//! a typed result out; no database, no async, no global state. The
//! `folio` pipeline crate orchestrates them.

pub mod accuracy;
pub mod bagit;
pub mod blank;
pub mod columns;
pub mod crop;
pub mod decode;
pub mod deskew;
pub mod encode;
pub mod error;
pub mod extract;
pub mod hocr;
pub mod keying;
pub mod orient;
pub mod page;
pub mod pdf;
pub mod prepare;
pub mod quality;
mod raster;
pub mod recognize;
pub mod rescan;
pub mod review;
pub mod sampling;
pub mod script;
pub mod snippet;

pub use error::StageError;
pub use page::{BBox, ColorMode, PageImage, Word};
