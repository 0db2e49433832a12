//! The deskewed pages snippets are cut from, kept decoded for a while:
//! keyers work in runs, so the second pass of a field, the arbitration and
//! the context view of the same page follow each other closely, and
//! decoding an A4 page costs far more than cutting and encoding a field.
//! Bounded by `[web] snippet_cache_pages` (0 turns it off).

use image::GrayImage;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A small least-recently-used set of decoded pages.
#[derive(Debug)]
pub struct PageCache {
    capacity: usize,
    pages: Mutex<VecDeque<(PathBuf, Arc<GrayImage>)>>,
}

impl PageCache {
    /// Holds at most `capacity` pages.
    pub fn new(capacity: usize) -> PageCache {
        PageCache {
            capacity,
            pages: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    fn lookup(&self, path: &Path) -> Option<Arc<GrayImage>> {
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let at = pages.iter().position(|(p, _)| p == path)?;
        let entry = pages.remove(at)?;
        let page = entry.1.clone();
        pages.push_back(entry);
        Some(page)
    }

    /// The page at `path`, decoded once while it stays in the cache.
    pub async fn get(&self, path: &Path) -> Result<Arc<GrayImage>, String> {
        if let Some(page) = self.lookup(path) {
            return Ok(page);
        }
        let file = path.to_path_buf();
        let page = tokio::task::spawn_blocking(move || {
            // Derived pages are Group 4 TIFF, JPEG or PNG: Folio's own
            // decoder reads all three.
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            folio_stages::decode::page_at(&bytes, 0, &Default::default())
                .map(|p| Arc::new(p.gray))
                .map_err(|e| format!("{}: {e}", file.display()))
        })
        .await
        .map_err(|e| e.to_string())??;
        if self.capacity > 0 {
            let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
            if !pages.iter().any(|(p, _)| p == path) {
                pages.push_back((path.to_path_buf(), page.clone()));
                while pages.len() > self.capacity {
                    pages.pop_front();
                }
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_most_recent_pages_only() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..3)
            .map(|i| {
                let p = dir.path().join(format!("p{i}.png"));
                GrayImage::from_pixel(4 + i, 4, image::Luma([9]))
                    .save(&p)
                    .unwrap();
                p
            })
            .collect();
        let cache = PageCache::new(2);
        let a = cache.get(&paths[0]).await.unwrap();
        assert!(Arc::ptr_eq(&a, &cache.get(&paths[0]).await.unwrap()));
        cache.get(&paths[1]).await.unwrap();
        cache.get(&paths[0]).await.unwrap(); // most recent again
        cache.get(&paths[2]).await.unwrap(); // evicts p1, keeps p0
        assert!(Arc::ptr_eq(&a, &cache.get(&paths[0]).await.unwrap()));
        assert!(cache.lookup(&paths[1]).is_none());
        assert!(cache.get(&dir.path().join("missing.png")).await.is_err());
        let off = PageCache::new(0);
        off.get(&paths[0]).await.unwrap();
        assert!(off.lookup(&paths[0]).is_none());
    }
}
