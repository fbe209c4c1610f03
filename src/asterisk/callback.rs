//! The extent of one call from Asterisk into the module.
use std::marker::PhantomData;

/// Made at the top of an entry point. The safe views of the callback's raw pointers
/// (`Channel`, `RxRequest`, `TxResponse`, `AmiRequest`) borrow it, so the borrow checker refuses
/// to let them outlive the callback: they cannot be returned, stored or sent to another thread.
pub struct CallbackScope {
    _not_send: PhantomData<*const ()>,
}

impl CallbackScope {
    #[allow(clippy::new_without_default)]
    pub fn new() -> CallbackScope {
        CallbackScope { _not_send: PhantomData }
    }
}
