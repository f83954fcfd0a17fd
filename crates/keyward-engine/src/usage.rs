//! Usage counting without a write per verification.
//!
//! A verification bumps two atomics on the cached entry and, the first time
//! since the last flush, queues the entry. A background task (and shutdown)
//! drains the queue into one store transaction. A failed flush puts the
//! counts back, so a database hiccup delays usage figures but loses none.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use keyward_core::clock::micros_to_datetime;
use keyward_store::{Store, StoreError, UsageDelta};

use crate::cache::CachedToken;

#[derive(Default)]
pub struct UsageLedger {
    queue: Mutex<Vec<Arc<CachedToken>>>,
}

impl UsageLedger {
    #[inline]
    pub fn record(&self, entry: &Arc<CachedToken>, now_micros: i64) {
        entry.pending_uses.fetch_add(1, Ordering::AcqRel);
        entry.last_used_micros.fetch_max(now_micros, Ordering::AcqRel);
        if !entry.queued.load(Ordering::Acquire) && !entry.queued.swap(true, Ordering::AcqRel) {
            self.enqueue(entry.clone());
        }
    }

    fn enqueue(&self, entry: Arc<CachedToken>) {
        // A poisoned lock only means another thread panicked mid-push; the Vec
        // itself is still sound, so keep counting.
        let mut queue = self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        queue.push(entry);
    }

    /// Writes all pending usage; returns how many tokens were updated.
    pub async fn flush(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let mut taken = Vec::with_capacity(batch.len());
        for entry in batch {
            // Clear the flag before taking the count: a verification racing
            // this either lands in the count taken or re-queues the entry.
            entry.queued.store(false, Ordering::Release);
            let uses = entry.pending_uses.swap(0, Ordering::AcqRel);
            if uses > 0 {
                taken.push((entry, uses));
            }
        }
        if taken.is_empty() {
            return Ok(0);
        }
        let deltas: Vec<UsageDelta> = taken
            .iter()
            .map(|(entry, uses)| UsageDelta {
                token_id: entry.record.id.clone(),
                uses: *uses,
                last_used_at: micros_to_datetime(entry.last_used_micros.load(Ordering::Acquire)),
            })
            .collect();
        match store.record_usage(&deltas).await {
            Ok(()) => Ok(deltas.len()),
            Err(error) => {
                for (entry, uses) in taken {
                    entry.pending_uses.fetch_add(uses, Ordering::AcqRel);
                    if !entry.queued.swap(true, Ordering::AcqRel) {
                        self.enqueue(entry);
                    }
                }
                Err(error)
            }
        }
    }
}
