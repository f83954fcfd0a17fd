//! The slot holding this process's one outstanding setup code, apart from
//! the setup flow so the engine can hold it without importing that flow.

use keyward_core::TokenDigest;

/// The one outstanding setup code of this process, as a digest.
#[derive(Default)]
pub(crate) struct SetupSlot(std::sync::Mutex<Option<(TokenDigest, i64)>>);

impl SetupSlot {
    pub(crate) fn put(&self, digest: TokenDigest, expires_at_micros: i64) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((digest, expires_at_micros));
    }

    pub(crate) fn matches(&self, code: &str, now_micros: i64) -> bool {
        is_outstanding(&self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()), code, now_micros)
    }

    /// Spends the code if it is the outstanding one and still valid.
    pub(crate) fn take(&self, code: &str, now_micros: i64) -> bool {
        let mut slot = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let valid = is_outstanding(&slot, code, now_micros);
        if valid {
            *slot = None;
        }
        valid
    }
}

fn is_outstanding(slot: &Option<(TokenDigest, i64)>, code: &str, now_micros: i64) -> bool {
    slot.as_ref().is_some_and(|(digest, until)| now_micros < *until && digest.ct_eq(&TokenDigest::of(code)))
}
