//! `Ao2<T>`: an owned reference to an astobj2 object. Clone takes a reference, drop releases it.
use std::ffi::c_void;
use std::ptr::NonNull;

use crate::bindings;

pub struct Ao2<T> {
    object: NonNull<T>,
}

/// Object types whose handles may cross threads.
///
/// # Safety
/// An implementation promises that the type's fields the module reads never change after the
/// object is published (sorcery objects are copied, never edited, when they change), so shared
/// access from several threads is sound; astobj2's reference counting itself is atomic.
pub unsafe trait ThreadSafeObject {}

// SAFETY: sorcery objects of res_pjsip are immutable once created (updates replace the object).
unsafe impl ThreadSafeObject for bindings::ast_sip_endpoint {}
// SAFETY: as above; the registrar updates a contact by storing a copy.
unsafe impl ThreadSafeObject for bindings::ast_sip_contact {}
// SAFETY: untyped handles hold sorcery objects (retrieve_by_id), immutable as above.
unsafe impl ThreadSafeObject for c_void {}

// SAFETY: see ThreadSafeObject.
unsafe impl<T: ThreadSafeObject> Send for Ao2<T> {}
// SAFETY: see ThreadSafeObject.
unsafe impl<T: ThreadSafeObject> Sync for Ao2<T> {}

impl<T> Ao2<T> {
    /// Takes over one reference the caller already owns (e.g. a `*_retrieve` result).
    ///
    /// # Safety
    /// `object` must be null or an ao2 object of type `T` carrying a reference the caller gives up.
    pub unsafe fn from_owned(object: *mut T) -> Option<Self> {
        NonNull::new(object).map(|object| Ao2 { object })
    }

    pub fn as_ptr(&self) -> *mut T {
        self.object.as_ptr()
    }
}

impl<C> Ao2<C> {
    /// Calls `each` with every object of this container (which must be an ao2 container of `T`
    /// objects), each as an owned reference.
    pub fn for_each_in<T>(&self, mut each: impl FnMut(Ao2<T>)) {
        // SAFETY: we hold the container; the iterator takes its own reference until destroyed,
        // and each result is a new reference that the Ao2 handed to `each` releases.
        unsafe {
            let mut iterator = bindings::ao2_iterator_init(self.as_ptr().cast(), 0);
            loop {
                let object = bindings::__ao2_iterator_next(
                    &mut iterator,
                    std::ptr::null(),
                    c"res_pjsip_multireg".as_ptr(),
                    0,
                    c"Ao2::for_each_in".as_ptr(),
                );
                let Some(object) = Ao2::from_owned(object.cast::<T>()) else { break };
                each(object);
            }
            bindings::ao2_iterator_destroy(&mut iterator);
        }
    }
}

fn adjust_ref(object: *mut c_void, delta: i32) {
    // SAFETY: `object` is a live ao2 object we hold a reference to; __ao2_ref is Asterisk's own
    // reference counting entry point, and the tag/file/function strings are static and NUL-ended.
    unsafe {
        bindings::__ao2_ref(object, delta, c"".as_ptr(), c"res_pjsip_multireg".as_ptr(), 0, c"Ao2".as_ptr());
    }
}

/// Releases one reference the caller owns on a raw ao2 object (e.g. an iterator result).
///
/// # Safety
/// `object` must be an ao2 object carrying a reference the caller gives up.
pub unsafe fn release(object: *mut c_void) {
    adjust_ref(object, -1);
}

impl<T> Clone for Ao2<T> {
    fn clone(&self) -> Self {
        adjust_ref(self.object.as_ptr().cast(), 1);
        Ao2 { object: self.object }
    }
}

impl<T> Drop for Ao2<T> {
    fn drop(&mut self) {
        adjust_ref(self.object.as_ptr().cast(), -1);
    }
}
