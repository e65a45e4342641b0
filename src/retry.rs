//! Trying again later: the one backoff and the outcome of an attempt, shared by the outboxes
//! that deliver what could not go at once (the hand-off webhook, `webhook`; mail, `email::outbox`).
//!
//! This module decides when to try again; it sends nothing and stores nothing (the journal
//! records each attempt's [`Attempt`]).

use std::time::Duration;

use rand::Rng;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// What became of one attempt at a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered,
    /// Failed; try again at `at_ms` (Unix milliseconds).
    Retry {
        error: String,
        at_ms: i64,
    },
    /// Failed, with every attempt spent (or a failure no retry can mend).
    GaveUp(String),
}

/// The wait after `attempts` failed attempts: `first · 2^(attempts-1)`, capped at
/// [`MAX_BACKOFF`], ±20 % jitter (so deliveries that failed together do not retry together).
pub fn backoff(first: Duration, attempts: u32) -> Duration {
    let base = first.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let base = base.min(MAX_BACKOFF);
    base.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
}

/// Now, in Unix milliseconds (the outboxes' due times).
pub fn unix_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_with_jitter_and_is_capped() {
        let first = Duration::from_millis(1000);
        for (attempts, base) in [(1u32, 1000.0), (2, 2000.0), (3, 4000.0), (6, 32000.0)] {
            let ms = backoff(first, attempts).as_millis() as f64;
            assert!((base * 0.8..=base * 1.2).contains(&ms), "{attempts}: {ms}");
        }
        assert!(backoff(first, 40) <= MAX_BACKOFF.mul_f64(1.2));
    }
}
