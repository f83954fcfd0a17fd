//! Usage counting without a write per verification.
//!
//! A verification bumps atomics in its cache slot and, the first time since
//! the last flush, queues the digest (see [`crate::cache`]). A background
//! task (and shutdown) drains the queue into one store transaction. A failed
//! flush puts the counts back, so a database hiccup delays usage figures but
//! loses none.

use keyward_store::{Store, StoreError};

use crate::cache::TokenCache;

/// Writes all pending usage; returns how many tokens were updated.
pub async fn flush(cache: &TokenCache, store: &dyn Store) -> Result<usize, StoreError> {
    let deltas = cache.drain_usage();
    if deltas.is_empty() {
        return Ok(0);
    }
    match store.record_usage(&deltas).await {
        Ok(()) => Ok(deltas.len()),
        Err(error) => {
            cache.restore_usage(deltas);
            Err(error)
        }
    }
}
