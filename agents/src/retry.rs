//! Backoff for calls to services that may be briefly unavailable (the experiment
//! platform, model servers): exponential with full jitter, so that clients which failed
//! together do not retry together, and a server's `Retry-After` honoured up to a cap.

use std::time::Duration;

/// How long and how often to try. Fields are public so tests can make waits tiny.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Upper bound of the first wait; each later bound is `factor` times the previous one.
    pub base: Duration,
    pub factor: u32,
    /// No back-off bound grows beyond this.
    pub cap: Duration,
    /// A `Retry-After` longer than this is shortened to it, so a confused server cannot
    /// park a client for an hour.
    pub retry_after_cap: Duration,
    /// Deadline of one attempt, connecting to last byte; a timed-out attempt is retried.
    pub attempt_timeout: Duration,
}

impl RetryPolicy {
    /// The standard waits (250 ms doubling to 8 s, `Retry-After` up to 30 s).
    pub fn new(max_attempts: u32, attempt_timeout: Duration) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base: Duration::from_millis(250),
            factor: 2,
            cap: Duration::from_secs(8),
            retry_after_cap: Duration::from_secs(30),
            attempt_timeout,
        }
    }

    /// The largest wait before retry number `retry` (0 for the first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let grown = self.factor.checked_pow(retry).and_then(|m| self.base.checked_mul(m));
        grown.map_or(self.cap, |d| d.min(self.cap))
    }

    /// The wait before retry number `retry`: `unit` (uniform in [0, 1]) of the ceiling,
    /// but never less than the server's capped `Retry-After`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let unit = if unit.is_nan() { 0.0 } else { unit.clamp(0.0, 1.0) };
        let jittered = self.ceiling(retry).mul_f64(unit);
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.retry_after_cap)),
            None => jittered,
        }
    }

    /// [`delay`](Self::delay) with a random jitter.
    pub fn jittered(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.delay(retry, retry_after, rand::random::<f64>())
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

    fn policy() -> RetryPolicy {
        RetryPolicy::new(5, Duration::from_secs(60))
    }

    #[test]
    fn ceiling_doubles_from_250ms_and_stops_at_8s() {
        let p = policy();
        let ms: Vec<u128> = (0..8).map(|r| p.ceiling(r).as_millis()).collect();
        assert_eq!(ms, [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(p.ceiling(u32::MAX), p.cap, "overflow must saturate at the cap");
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let p = policy();
        assert_eq!(p.delay(2, None, 0.0), Duration::ZERO);
        assert_eq!(p.delay(2, None, 0.5), Duration::from_millis(500));
        assert_eq!(p.delay(2, None, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(2, None, 7.0), Duration::from_secs(1), "out-of-range jitter is clamped");
        assert_eq!(p.delay(2, None, f64::NAN), Duration::ZERO);
        let draws: std::collections::BTreeSet<_> = (0..200).map(|_| p.jittered(3, None)).collect();
        assert!(draws.len() > 20 && draws.iter().all(|d| *d <= p.ceiling(3)), "{draws:?}");
    }

    #[test]
    fn retry_after_is_a_floor_and_is_capped() {
        let p = policy();
        assert_eq!(p.delay(0, Some(Duration::from_secs(3)), 0.1), Duration::from_secs(3));
        assert_eq!(p.delay(0, Some(Duration::from_secs(3600)), 0.1), Duration::from_secs(30));
        assert_eq!(p.delay(6, Some(Duration::from_secs(1)), 1.0), Duration::from_secs(8));
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
