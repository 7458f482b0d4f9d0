//! Backoff for calls to services that may be briefly unavailable (the experiment
//! platform, model servers): exponential with full jitter, so that many clients retrying
//! at once spread out, and `Retry-After` honoured because the server knows best.

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay's upper bound.
    pub base: Duration,
    /// No single delay exceeds this, `Retry-After` included.
    pub cap: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_millis(250), cap: Duration::from_secs(10), attempts: 6 }
    }
}

impl Backoff {
    /// How long to wait after failed attempt `attempt` (1-based). A server's
    /// `Retry-After` wins over the jittered delay, within the cap.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.cap);
        }
        let ceiling = self.base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.cap);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(if millis == 0 { 0 } else { rand::thread_rng().gen_range(0..=millis) })
    }
}

/// `Retry-After` in its delay-seconds form; an HTTP date or garbage is ignored (the
/// caller's own backoff applies).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: f64 = value?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// `Retry-After` of a response, if any.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_with_jitter_below_the_ceiling_and_the_cap() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_millis(700), attempts: 9 };
        for attempt in 1..=8u32 {
            let ceiling = Duration::from_millis(100 * (1u64 << (attempt - 1))).min(b.cap);
            for _ in 0..50 {
                assert!(b.delay(attempt, None) <= ceiling);
            }
        }
        // Jitter: 200 draws of attempt 3 (ceiling 400 ms) are not all alike.
        let draws: std::collections::BTreeSet<_> = (0..200).map(|_| b.delay(3, None)).collect();
        assert!(draws.len() > 20, "{draws:?}");
    }

    #[test]
    fn retry_after_wins_within_the_cap() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(5), attempts: 3 };
        assert_eq!(b.delay(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(b.delay(1, Some(Duration::from_secs(60))), Duration::from_secs(5));
    }

    #[test]
    fn retry_after_parses_seconds_and_ignores_dates() {
        assert_eq!(parse_retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(Some("0.5")), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(parse_retry_after(None), None);
    }
}
