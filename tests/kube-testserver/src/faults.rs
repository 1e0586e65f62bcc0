//! Fault injection for reliability tests: the next N requests whose path matches a regex
//! answer 429 Too Many Requests (with `Retry-After`), 500 Internal Error, or hang for a while
//! before being served normally. Rules are consumed in the order they were added.

use std::time::Duration;

use regex::Regex;

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with `Retry-After: secs`.
    TooManyRequests {
        /// Seconds in the Retry-After header.
        retry_after_secs: u64,
    },
    /// 500 InternalError.
    InternalError,
    /// Wait this long, then answer normally (client timeouts fire first if shorter).
    Hang(Duration),
}

/// One rule: `remaining` more requests matching `pattern` get `fault`.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Regex matched against the request path (no query string).
    pub pattern: Regex,
    /// How many more requests it applies to.
    pub remaining: u32,
    /// The fault.
    pub fault: Fault,
}

/// The active rules.
#[derive(Debug, Default)]
pub struct FaultTable {
    rules: Vec<FaultRule>,
}

impl FaultTable {
    /// Adds a rule.
    pub fn add(&mut self, pattern: &str, count: u32, fault: Fault) -> Result<(), regex::Error> {
        let pattern = Regex::new(pattern)?;
        self.rules.push(FaultRule {
            pattern,
            remaining: count,
            fault,
        });
        Ok(())
    }

    /// Removes all rules.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The fault for this request, if any rule matches (consuming one use of it).
    pub fn take(&mut self, path: &str) -> Option<Fault> {
        let rule = self
            .rules
            .iter_mut()
            .find(|r| r.remaining > 0 && r.pattern.is_match(path))?;
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        self.rules.retain(|r| r.remaining > 0);
        Some(fault)
    }

    /// How many injected responses are still pending.
    pub fn pending(&self) -> u32 {
        self.rules.iter().map(|r| r.remaining).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE.md)
mod tests {
    use super::*;

    #[test]
    fn counts_down_per_match() {
        let mut t = FaultTable::default();
        t.add("^/apis/apps", 2, Fault::InternalError).unwrap();
        assert_eq!(t.take("/api/v1"), None);
        assert_eq!(
            t.take("/apis/apps/v1/deployments"),
            Some(Fault::InternalError)
        );
        assert_eq!(t.take("/apis/apps/v1"), Some(Fault::InternalError));
        assert_eq!(t.take("/apis/apps/v1"), None);
    }
}
