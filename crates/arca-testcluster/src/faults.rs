//! Fault injection: rules that make matching requests fail, slow down, or lose
//! their connection.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use regex::Regex;

/// What a matching request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// `429 TooManyRequests` with a `Retry-After` header of this many seconds.
    TooManyRequests { retry_after_secs: u64 },
    /// `500 InternalError`.
    InternalError,
    /// `503 ServiceUnavailable`.
    ServiceUnavailable,
    /// Any status code with a `Status` body.
    Status(u16),
    /// Wait, then serve the request normally.
    Delay(Duration),
    /// Close the connection without an answer.
    DropConnection,
}

/// A fault rule; build with [`FaultRule::new`] and the chained setters.
#[derive(Debug, Clone)]
pub struct FaultRule {
    fault: Fault,
    method: Option<String>,
    path: Option<Regex>,
    times: Option<u32>,
    probability: f64,
}

impl FaultRule {
    /// A rule that answers every request with `fault` (narrow it with the setters).
    pub fn new(fault: Fault) -> Self {
        FaultRule { fault, method: None, path: None, times: None, probability: 1.0 }
    }

    /// Only requests with this HTTP method (`GET`, `POST`, ...).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose path (without query) matches this regex.
    pub fn path(mut self, pattern: &str) -> Result<Self, regex::Error> {
        self.path = Some(Regex::new(pattern)?);
        Ok(self)
    }

    /// Fire at most this many times, then stop matching.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Fire with this probability (0.0..=1.0) for each matching request.
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p.clamp(0.0, 1.0);
        self
    }
}

/// Identifies an added rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleId(u64);

struct Entry {
    id: RuleId,
    rule: FaultRule,
    fired: u32,
}

/// The fault rules of one cluster.
#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Entry>>,
    next_id: Mutex<u64>,
    expire_tokens: AtomicU32,
}

impl Faults {
    /// Adds a rule; rules are checked in the order they were added.
    pub fn add(&self, rule: FaultRule) -> RuleId {
        let id = {
            let mut n = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            RuleId(*n)
        };
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).push(Entry { id, rule, fired: 0 });
        id
    }

    /// Removes one rule.
    pub fn remove(&self, id: RuleId) {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).retain(|e| e.id != id);
    }

    /// Removes all rules and pending token expiries.
    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.expire_tokens.store(0, Ordering::SeqCst);
    }

    /// How often a rule fired.
    pub fn fired(&self, id: RuleId) -> u32 {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|e| e.id == id).map(|e| e.fired).unwrap_or(0)
    }

    /// The next `n` list requests that carry a `continue` token answer
    /// `410 Gone` (reason `Expired`), as when the API server compacted past the token.
    pub fn expire_continue_tokens(&self, n: u32) {
        self.expire_tokens.store(n, Ordering::SeqCst);
    }

    /// Consumes one pending token expiry.
    pub(crate) fn take_token_expiry(&self) -> bool {
        self.expire_tokens.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    /// The fault for a request, if a rule fires.
    pub(crate) fn check(&self, method: &str, path: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        for entry in rules.iter_mut() {
            let r = &entry.rule;
            if r.method.as_deref().is_some_and(|m| m != method) {
                continue;
            }
            if r.path.as_ref().is_some_and(|re| !re.is_match(path)) {
                continue;
            }
            if r.times.is_some_and(|t| entry.fired >= t) {
                continue;
            }
            if r.probability < 1.0 && fastrand::f64() >= r.probability {
                continue;
            }
            entry.fired += 1;
            return Some(r.fault.clone());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_and_count() -> Result<(), regex::Error> {
        let f = Faults::default();
        let id = f.add(
            FaultRule::new(Fault::InternalError).method("get").path("^/api/v1/namespaces/[^/]+/configmaps")?.times(2),
        );
        assert_eq!(f.check("POST", "/api/v1/namespaces/a/configmaps"), None);
        assert_eq!(f.check("GET", "/api/v1/namespaces/a/configmaps"), Some(Fault::InternalError));
        assert_eq!(f.check("GET", "/api/v1/namespaces/a/configmaps/x"), Some(Fault::InternalError));
        assert_eq!(f.check("GET", "/api/v1/namespaces/a/configmaps"), None);
        assert_eq!(f.fired(id), 2);
        f.expire_continue_tokens(1);
        assert!(f.take_token_expiry());
        assert!(!f.take_token_expiry());
        Ok(())
    }
}
