//! The C library's allocator, which Asterisk and the module share.

/// Hands the pages that free memory spans back to the kernel, in every malloc arena.
///
/// glibc keeps what a thread freed in that thread's arena, and a later thread may allocate from
/// another one; after a load or reload that built and dropped thousands of objects, that free
/// memory would otherwise stay in Asterisk's RSS.
/// It holds each arena's lock while it walks it, so it runs after loads and reloads only, never
/// on the SIP path.
pub fn return_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
