//! When to try a request again, and how long to wait first.
//!
//! Transient failures are retried with a bounded exponential backoff: 429 Too Many Requests (the
//! API server's priority-and-fairness answer), the 5xx answers a restarting server or a proxy in
//! front of it gives (500, 502, 503, 504), and connections that fail or drop. A `Retry-After`
//! from the server is honoured (capped, so a hostile value cannot hang a run). Anything else —
//! 4xx answers, conflicts in particular — is returned at once: retrying a conflict would defeat
//! the optimistic concurrency that relies on it.
//!
//! The policy is plain data, deterministic (no jitter: one run talks to one server, and tests
//! need exact delays), and decided here without I/O; the adapter does the sleeping.

use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// The wait before the first retry; doubled for each further one.
    pub initial_delay: Duration,
    /// The longest backoff between two attempts.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 5 retries, 0.2 s doubling to at most 5 s (about 6 s in all), `Retry-After` up to 30 s.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// A failure worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// 429, with the server's `Retry-After` if it gave one.
    TooManyRequests { retry_after: Option<Duration> },
    /// 500, 502, 503 or 504, with the server's `Retry-After` if it gave one.
    Server {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// The connection could not be made or broke.
    Connection,
}

impl Transient {
    /// Classifies an HTTP status code; `None` when it is not transient.
    pub fn from_status(code: u16, retry_after: Option<Duration>) -> Option<Transient> {
        match code {
            429 => Some(Transient::TooManyRequests { retry_after }),
            500 | 502 | 503 | 504 => Some(Transient::Server { code, retry_after }),
            _ => None,
        }
    }

    fn retry_after(self) -> Option<Duration> {
        match self {
            Transient::TooManyRequests { retry_after } | Transient::Server { retry_after, .. } => {
                retry_after
            }
            Transient::Connection => None,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The exponential backoff before retry number `retry` (0 = the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.checked_pow(retry).unwrap_or(u32::MAX);
        self.initial_delay
            .checked_mul(factor)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// How long to wait before retry number `retry` after `failure`, or `None` to give up.
    /// A server's `Retry-After` replaces the backoff (capped at `max_retry_after`).
    pub fn delay(&self, retry: u32, failure: Transient) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        Some(match failure.retry_after() {
            Some(server) => server.min(self.max_retry_after),
            None => self.backoff(retry),
        })
    }
}

/// Reads a `Retry-After` header value: delay-seconds only (the API server never sends the
/// HTTP-date form; a date is ignored and the backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_after_max_retries() {
        let policy = RetryPolicy::default();
        let delays: Vec<Option<Duration>> = (0..7)
            .map(|i| policy.delay(i, Transient::Connection))
            .collect();
        assert_eq!(
            delays,
            [
                Some(MS(200)),
                Some(MS(400)),
                Some(MS(800)),
                Some(MS(1600)),
                Some(MS(3200)),
                None,
                None
            ]
        );
        let capped = RetryPolicy {
            max_retries: 40,
            ..RetryPolicy::default()
        };
        assert_eq!(capped.delay(5, Transient::Connection), Some(MS(5000)));
        assert_eq!(capped.delay(39, Transient::Connection), Some(MS(5000)));
    }

    #[test]
    fn retry_after_replaces_the_backoff_but_is_capped() {
        let policy = RetryPolicy::default();
        let busy = |s| Transient::TooManyRequests {
            retry_after: Some(Duration::from_secs(s)),
        };
        assert_eq!(policy.delay(0, busy(3)), Some(Duration::from_secs(3)));
        assert_eq!(policy.delay(0, busy(0)), Some(Duration::ZERO));
        assert_eq!(policy.delay(2, busy(3600)), Some(Duration::from_secs(30)));
        assert_eq!(policy.delay(5, busy(1)), None, "still bounded");
        let unavailable = Transient::Server {
            code: 503,
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(policy.delay(1, unavailable), Some(Duration::from_secs(1)));
    }

    #[test]
    fn which_statuses_are_transient() {
        for code in [429, 500, 502, 503, 504] {
            assert!(Transient::from_status(code, None).is_some(), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 410, 422, 501] {
            assert_eq!(Transient::from_status(code, None), None, "{code}");
        }
    }

    #[test]
    fn never_retries_and_parses_retry_after() {
        assert_eq!(RetryPolicy::never().delay(0, Transient::Connection), None);
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
