//! The clock seam. Everything that depends on "now" (expiry, negative-cache
//! lifetimes, audit timestamps) asks a [`Clock`], so tests move time by hand
//! to exact boundaries instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeZone, Utc};

/// A source of the current time, truncated to microseconds so that what is
/// stored and what is compared are the same instant on every backend.
pub trait Clock: Send + Sync + 'static {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> i64;

    /// The current instant as a timestamp.
    fn now(&self) -> DateTime<Utc> {
        micros_to_datetime(self.now_micros())
    }
}

/// Converts stored microseconds into a timestamp, saturating at chrono's range
/// rather than failing: the values come from our own clock.
pub fn micros_to_datetime(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        Utc::now().timestamp_micros()
    }
}

/// A clock that only moves when told to: for tests at exact boundaries.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { micros: AtomicI64::new(start.timestamp_micros()) }
    }

    /// Moves the clock forward (or back, with a negative value) by whole seconds.
    pub fn advance_secs(&self, seconds: i64) {
        self.micros.fetch_add(seconds * 1_000_000, Ordering::SeqCst);
    }

    /// Moves the clock by microseconds.
    pub fn advance_micros(&self, micros: i64) {
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the clock to an instant.
    pub fn set(&self, instant: DateTime<Utc>) {
        self.micros.store(instant.timestamp_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.micros.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = micros_to_datetime(1_700_000_000_000_000);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance_secs(2);
        clock.advance_micros(-1);
        assert_eq!(clock.now_micros(), 1_700_000_001_999_999);
    }
}
