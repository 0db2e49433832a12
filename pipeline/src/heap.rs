//! The C heap's policy for page-sized buffers. A page raster is 8–30 MiB,
//! allocated and freed once per step. glibc raises its mmap threshold each
//! time such a buffer is freed, so later rasters come from the heap, and
//! a fragmented heap keeps its high-water mark: peak memory then grew with
//! the batch (6 pages 290 MiB, 24 pages 366–396 MiB, measured) instead of
//! with the pages in flight. Fixing the threshold keeps every large buffer
//! in its own mapping, given back the moment it is freed (6 → 276–281 MiB,
//! 24 → 310–313 MiB). Tesseract and Leptonica allocate through the same
//! heap, so a Rust-only allocator would not cover them.

/// Buffers from this size up get their own mapping and go back to the
/// system on free: well below one raster, well above ordinary objects.
pub const MMAP_THRESHOLD: usize = 1 << 20;

/// Sets the fixed mmap threshold for the whole process; call once, first
/// thing in `main`. Elsewhere than glibc it does nothing.
pub fn give_large_buffers_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
}
