//! Background work on a fixed interval until shutdown: the usage flusher and
//! the lifecycle scheduler share this loop.

use std::future::Future;
use std::time::Duration;

/// Runs `tick` every `interval` (the first at once) until `shutdown` resolves.
/// A tick that overruns delays the next rather than bunching missed ones.
pub(crate) async fn every<F, Fut>(interval: Duration, shutdown: impl Future<Output = ()>, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = ticker.tick() => tick().await,
            () = &mut shutdown => return,
        }
    }
}
