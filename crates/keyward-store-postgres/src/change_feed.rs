//! The token change feed: LISTEN on the channel migration 0007's trigger
//! announces every committed token change on, and tell the sink.
//!
//! A listener that silently stopped hearing would leave stale verdicts in
//! the cache, so the feed proves itself: every [`HEARTBEAT`] it announces a
//! ping of its own through the ordinary pool and expects to hear it back on
//! the listening connection. If [`MISSED_HEARTBEATS`] go unheard, or the
//! connection reports an error, the sink is told the feed is lost (the
//! engine then verifies from the store) until a fresh listener is up.

use std::sync::Weak;
use std::time::Duration;

use keyward_core::TokenDigest;
use keyward_store::ChangeSink;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

/// How often the feed checks that it still hears.
pub const HEARTBEAT: Duration = Duration::from_millis(250);
/// Heartbeats that may go unheard before the feed counts as lost.
const MISSED_HEARTBEATS: u64 = 3;
/// Longest wait between attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

const PING_PREFIX: &str = "ping:";

/// The channel for the pool's schema (see the migration).
pub async fn channel(pool: &PgPool) -> Result<String, sqlx::Error> {
    let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(pool).await?;
    Ok(format!("keyward_tokens_{schema}"))
}

/// Runs until the sink is dropped.
pub async fn run(pool: PgPool, channel: String, instance: String, sink: Weak<dyn ChangeSink>) {
    let mut backoff = HEARTBEAT;
    loop {
        let (reason, was_listening) = match listen(&pool, &channel, &instance, &sink).await {
            Ended::SinkGone => return,
            Ended::Lost { reason, was_listening } => (reason, was_listening),
        };
        let Some(live) = sink.upgrade() else { return };
        live.feed_lost();
        drop(live);
        tracing::warn!(%reason, "token change feed lost; verifying from the store until it is back");
        if was_listening {
            backoff = HEARTBEAT;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum Ended {
    SinkGone,
    Lost { reason: String, was_listening: bool },
}

fn lost(reason: impl ToString, was_listening: bool) -> Ended {
    Ended::Lost { reason: reason.to_string(), was_listening }
}

async fn listen(pool: &PgPool, channel: &str, instance: &str, sink: &Weak<dyn ChangeSink>) -> Ended {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(error) => return lost(error, false),
    };
    if let Err(error) = listener.listen(channel).await {
        return lost(error, false);
    }
    // Hearing from here on: whatever changed before may have been missed.
    match sink.upgrade() {
        Some(live) => live.feed_restored(),
        None => return Ended::SinkGone,
    }
    tracing::info!("token change feed listening");
    let own_ping = format!("{PING_PREFIX}{instance}:");
    let (mut sent, mut heard) = (0u64, 0u64);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // `try_recv` may be dropped by the heartbeat branch mid-read; it is
        // cancel-safe since sqlx 0.8.1 (launchbadge/sqlx#3467), and a read
        // that went wrong anyway surfaces as an error here: lost, then a
        // fresh listener and an empty cache.
        tokio::select! {
            received = listener.try_recv() => {
                let notification = match received {
                    Ok(Some(notification)) => notification,
                    Ok(None) => return lost("the listening connection closed", true),
                    Err(error) => return lost(error, true),
                };
                let payload = notification.payload();
                if let Some(sequence) = payload.strip_prefix(&own_ping) {
                    heard = heard.max(sequence.parse().unwrap_or(0));
                } else if payload.starts_with(PING_PREFIX) {
                    // Another instance's heartbeat.
                } else if let Some(digest) = parse_digest(payload) {
                    let Some(live) = sink.upgrade() else { return Ended::SinkGone };
                    live.token_changed(&digest);
                } else {
                    tracing::warn!(channel, "ignored a malformed token change announcement");
                }
            }
            _ = heartbeat.tick() => {
                if sink.strong_count() == 0 {
                    return Ended::SinkGone;
                }
                if sent.saturating_sub(heard) > MISSED_HEARTBEATS {
                    return lost("heartbeats went unheard", true);
                }
                sent += 1;
                let ping = format!("{own_ping}{sent}");
                if let Err(error) = sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(&ping).execute(pool).await {
                    return lost(error, true);
                }
            }
        }
    }
}

fn parse_digest(hex: &str) -> Option<TokenDigest> {
    if hex.len() != 64 {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..32).map(|at| hex.get(at * 2..at * 2 + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect();
    TokenDigest::from_slice(&bytes?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip_through_hex_and_nothing_else_parses() {
        let digest = TokenDigest::of("kw_live_example");
        let hex: String = digest.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_digest(&hex), Some(digest));
        for bad in ["", "ping:abc:1", &hex[..62], &format!("{}zz", &hex[..62]), &format!("{hex}00")] {
            assert_eq!(parse_digest(bad), None, "{bad}");
        }
    }
}
