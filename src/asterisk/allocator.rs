//! The C library's allocator, which Asterisk and the module share.

/// Hands the pages that free memory spans back to the kernel, in every malloc arena.
///
/// glibc keeps what a thread freed in that thread's arena, and a later thread may allocate from
/// another one; after a load or reload that built and dropped thousands of objects, that free
/// memory would otherwise stay in Asterisk's RSS.
pub fn return_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
