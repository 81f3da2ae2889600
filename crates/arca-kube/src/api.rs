//! The IO edge towards the API server: raw JSON requests with retries and
//! backoff on throttling and server errors, a client-side request rate
//! (QPS and burst, as client-go has) and a bound on requests in flight.
//! Everything else in the crate works on `Value`s.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::error::{ApiFailure, Error, Result};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 6, base: Duration::from_millis(100), max: Duration::from_secs(5) }
    }
}

const JSON: &str = "application/json";

/// Status codes worth another try: throttling and transient server trouble.
pub const RETRY_CODES: &[u16] = &[429, 500, 502, 503, 504];

impl RetryPolicy {
    /// The wait before attempt `attempt` (1-based retry count), honouring a
    /// server's `retryAfterSeconds` when it sent one. `None`: give up.
    pub fn delay(&self, err: &Error, attempt: u32, retry_after: Option<u32>) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let retryable = match err {
            // A webhook's answer stands, whatever its code.
            Error::Api { failure, .. } => RETRY_CODES.contains(&failure.code) && !crate::admission::is_final(failure),
            Error::Transport { .. } => true,
            _ => false,
        };
        if !retryable {
            return None;
        }
        let backoff = self.base.saturating_mul(1 << attempt.min(16)).min(self.max);
        Some(match retry_after {
            Some(s) if s > 0 => Duration::from_secs(u64::from(s)).min(self.max * 6),
            _ => backoff,
        })
    }
}

/// Client-side request rate: a token bucket refilled at `qps` per second,
/// holding at most `burst` tokens; every request (retries too) takes one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub qps: f64,
    pub burst: u32,
}

impl RateLimit {
    /// `None` when `qps` is 0 (no client-side limit: the server's priority
    /// and fairness, answered with 429s, is then the only brake).
    pub fn new(qps: f64, burst: u32) -> Result<Option<RateLimit>> {
        if !qps.is_finite() || qps < 0.0 {
            return Err(Error::invalid("--client-qps", format!("{qps} is not a rate; give a number >= 0")));
        }
        Ok((qps > 0.0).then_some(RateLimit { qps, burst: burst.max(1) }))
    }

    fn limiter(&self) -> DefaultDirectRateLimiter {
        let period = Duration::from_secs_f64(1.0 / self.qps).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX));
        DefaultDirectRateLimiter::direct(quota.allow_burst(burst))
    }
}

/// A handle on the API server. Cheap to clone.
#[derive(Clone)]
pub struct Kube {
    client: kube::Client,
    retry: RetryPolicy,
    in_flight: Arc<Semaphore>,
    rate: Option<Arc<DefaultDirectRateLimiter>>,
}

impl Kube {
    /// `max_in_flight` bounds concurrent requests (client-side rate limit).
    pub fn new(client: kube::Client, max_in_flight: usize) -> Self {
        Kube {
            client,
            retry: RetryPolicy::default(),
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            rate: None,
        }
    }

    /// Limits the request rate (shared by every clone of this handle).
    pub fn with_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate = limit.map(|l| Arc::new(l.limiter()));
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    pub async fn get(&self, path: &str, what: &str) -> Result<Value> {
        self.get_accepting(path, JSON, what).await
    }

    /// A GET that asks for other representations first (`Accept`), such as
    /// aggregated discovery; the answer tells by its `kind` what it is.
    pub async fn get_accepting(&self, path: &str, accept: &str, what: &str) -> Result<Value> {
        self.send(http::Method::GET, path.to_string(), None, (JSON, accept), what).await
    }

    /// Like `get`, `None` on 404.
    pub async fn get_opt(&self, path: &str, what: &str) -> Result<Option<Value>> {
        match self.get(path, what).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.api_code() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every object of collection `resource` under `prefix` (`/api/v1`,
    /// `/apis/apps/v1`): one cluster-wide list, or one list per namespace
    /// when `namespaces` names them, which is all a namespace's tenant may do.
    pub async fn list_all_in(
        &self,
        prefix: &str,
        resource: &str,
        namespaces: Option<&[String]>,
        what: &str,
    ) -> Result<Vec<Value>> {
        let paths: Vec<String> = match namespaces {
            Some(nss) => nss.iter().map(|ns| format!("{prefix}/namespaces/{ns}/{resource}")).collect(),
            None => vec![format!("{prefix}/{resource}")],
        };
        let mut out = Vec::new();
        for path in paths {
            let mut cont: Option<String> = None;
            loop {
                let page = self.list_page(&path, 500, cont.as_deref(), what).await?;
                out.extend(page["items"].as_array().cloned().unwrap_or_default());
                cont = page["metadata"]["continue"].as_str().filter(|c| !c.is_empty()).map(String::from);
                if cont.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// One page of a list. A `410 Gone` on an expired `continue` is returned
    /// as an error for the caller to restart the list.
    pub async fn list_page(&self, path: &str, limit: u32, cont: Option<&str>, what: &str) -> Result<Value> {
        let mut uri = format!("{path}?limit={limit}");
        if let Some(c) = cont {
            uri.push_str("&continue=");
            uri.push_str(&encode_query(c));
        }
        self.send(http::Method::GET, uri, None, (JSON, JSON), what).await
    }

    pub async fn create(&self, collection: &str, body: &Value, what: &str) -> Result<Value> {
        self.send(http::Method::POST, collection.to_string(), Some(body), (JSON, JSON), what).await
    }

    /// Server-side apply as field manager `arca`, forcing conflicts.
    pub async fn apply(&self, path: &str, body: &Value, what: &str) -> Result<Value> {
        self.apply_as(path, body, crate::FIELD_MANAGER, what).await
    }

    /// Server-side apply as field manager `manager`, forcing conflicts.
    pub async fn apply_as(&self, path: &str, body: &Value, manager: &str, what: &str) -> Result<Value> {
        let uri = format!("{path}?fieldManager={}&force=true", encode_query(manager));
        self.send(http::Method::PATCH, uri, Some(body), ("application/apply-patch+yaml", JSON), what).await
    }

    pub async fn merge_patch(&self, path: &str, body: &Value, what: &str) -> Result<Value> {
        self.send(http::Method::PATCH, path.to_string(), Some(body), ("application/merge-patch+json", JSON), what).await
    }

    pub async fn delete(&self, path: &str, what: &str) -> Result<()> {
        self.send(http::Method::DELETE, path.to_string(), None, (JSON, JSON), what).await.map(|_| ())
    }

    /// A GET of a plain-text answer (pod logs), with the same retries.
    pub async fn get_text(&self, path: &str, what: &str) -> Result<String> {
        self.send_text(http::Method::GET, path.to_string(), None, (JSON, "*/*"), what).await
    }

    async fn send(
        &self,
        method: http::Method,
        uri: String,
        body: Option<&Value>,
        types: (&str, &str),
        what: &str,
    ) -> Result<Value> {
        let text = self.send_text(method, uri, body, types, what).await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| Error::Decode { what: what.to_string(), source: e })
    }

    /// Sends a request with retries (backoff on 429/5xx, `Retry-After`); the answer's body.
    async fn send_text(
        &self,
        method: http::Method,
        uri: String,
        body: Option<&Value>,
        (content_type, accept): (&str, &str),
        what: &str,
    ) -> Result<String> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| Error::Decode { what: what.to_string(), source: e })?,
            None => Vec::new(),
        };
        let mut attempt = 0;
        loop {
            let request = http::Request::builder()
                .method(method.clone())
                .uri(&uri)
                .header(http::header::CONTENT_TYPE, content_type)
                .header(http::header::ACCEPT, accept)
                .body(bytes.clone())
                .map_err(|e| Error::invalid(format!("request for {what}"), e.to_string()))?;
            if let Some(rate) = &self.rate {
                rate.until_ready().await;
            }
            let result = {
                let _permit = self.in_flight.acquire().await.map_err(|e| Error::Task(e.to_string()))?;
                self.client.request_text(request).await
            };
            let (err, retry_after) = match result {
                Ok(text) => return Ok(text),
                Err(e) => convert(e, what),
            };
            attempt += 1;
            match self.retry.delay(&err, attempt, retry_after) {
                Some(wait) => {
                    tracing::info!("{what}: {} (retry {attempt} in {wait:?})", err.reason());
                    tokio::time::sleep(wait).await;
                }
                None => return Err(err),
            }
        }
    }
}

fn convert(e: kube::Error, what: &str) -> (Error, Option<u32>) {
    match e {
        kube::Error::Api(status) => {
            let retry_after = status.details.as_ref().map(|d| d.retry_after_seconds);
            let failure =
                ApiFailure { code: status.code, reason: status.reason.clone(), message: status.message.clone() };
            (Error::Api { what: what.to_string(), failure }, retry_after)
        }
        other => (Error::Transport { what: what.to_string(), message: other.to_string() }, None),
    }
}

/// Percent-encodes a query value (continue tokens are base64 with `=`/`+`/`/`).
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> Error {
        Error::Api { what: "x".into(), failure: ApiFailure { code, reason: String::new(), message: String::new() } }
    }

    #[test]
    fn retries_throttling_and_server_errors_only() {
        let p = RetryPolicy::default();
        assert!(p.delay(&api(429), 1, None).is_some());
        assert!(p.delay(&api(503), 1, None).is_some());
        assert!(p.delay(&api(404), 1, None).is_none());
        assert!(p.delay(&api(409), 1, None).is_none());
        assert!(p.delay(&api(500), p.attempts, None).is_none());
        assert_eq!(p.delay(&api(429), 1, Some(2)), Some(Duration::from_secs(2)));
        assert_eq!(p.delay(&api(500), 10, None), None);
        assert!(p.delay(&api(500), 5, None).is_some_and(|d| d <= p.max));
    }

    #[test]
    fn webhook_answers_are_not_retried() {
        let webhook = |message: &str| Error::Api {
            what: "x".into(),
            failure: ApiFailure { code: 500, reason: "InternalError".into(), message: message.into() },
        };
        let p = RetryPolicy::default();
        let unreachable = webhook(r#"Internal error occurred: failed calling webhook "w.example.org": timeout"#);
        assert!(p.delay(&unreachable, 1, None).is_none());
        assert!(p.delay(&webhook(r#"admission webhook "w.example.org" denied the request: no"#), 1, None).is_none());
        assert!(p.delay(&webhook("Internal error occurred: etcd timeout"), 1, None).is_some());
    }

    #[test]
    fn rate_limit_zero_means_none_and_negative_is_refused() -> Result<()> {
        assert_eq!(RateLimit::new(0.0, 10)?, None);
        assert_eq!(RateLimit::new(5.0, 0)?, Some(RateLimit { qps: 5.0, burst: 1 }));
        assert!(RateLimit::new(-1.0, 1).is_err());
        assert!(RateLimit::new(f64::NAN, 1).is_err());
        Ok(())
    }

    #[tokio::test]
    async fn rate_limit_spaces_requests_after_the_burst() {
        let Ok(Some(limit)) = RateLimit::new(20.0, 5) else {
            panic!("a valid rate");
        };
        let limiter = limit.limiter();
        let start = std::time::Instant::now();
        for _ in 0..15 {
            limiter.until_ready().await;
        }
        // 5 at once, then 10 more at 20/s: about half a second, never less.
        assert!(start.elapsed() >= Duration::from_millis(450), "{:?}", start.elapsed());
    }

    #[test]
    fn encodes_continue_tokens() {
        assert_eq!(encode_query("a+b/c="), "a%2Bb%2Fc%3D");
    }
}
