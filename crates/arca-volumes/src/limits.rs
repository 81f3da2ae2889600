//! How many movers run at once: in the whole cluster (`--mover-concurrency`)
//! and on one node (`--movers-per-node`, for pods whose node is known before
//! they start), and the per-volume time bound (`--volume-timeout`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shared mover slots of one run.
pub struct Limits {
    cluster: Arc<Semaphore>,
    per_node: usize,
    nodes: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Held while a mover pod runs; dropping it frees the slots.
pub struct Slot {
    _node: Option<OwnedSemaphorePermit>,
    _cluster: Option<OwnedSemaphorePermit>,
}

impl Limits {
    pub fn new(cluster: usize, per_node: usize) -> Self {
        Limits { cluster: Arc::new(Semaphore::new(cluster.max(1))), per_node: per_node.max(1), nodes: Mutex::default() }
    }

    /// Waits for a slot on `node` (when known), then one in the cluster.
    /// The node slot comes first so a pod waiting for a busy node does not
    /// hold a cluster slot another node could use.
    pub async fn acquire(&self, node: Option<&str>) -> Slot {
        let node_permit = match node {
            Some(n) => Some(self.node_semaphore(n).acquire_owned().await.ok()).flatten(),
            None => None,
        };
        let cluster = Arc::clone(&self.cluster).acquire_owned().await.ok();
        Slot { _node: node_permit, _cluster: cluster }
    }

    fn node_semaphore(&self, node: &str) -> Arc<Semaphore> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(nodes.entry(node.to_string()).or_insert_with(|| Arc::new(Semaphore::new(self.per_node))))
    }
}

/// The end of one volume's time budget.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    pub total: Duration,
}

impl Deadline {
    pub fn after(total: Duration) -> Self {
        Deadline { end: Instant::now() + total, total }
    }

    /// What is left (at least a moment, so a last status read still happens).
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now()).max(Duration::from_millis(100))
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.end
    }
}

/// `90s`, `10m`, `1h`, `1h30m`, `500ms`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let bad = || format!("{text:?} is not a duration; give e.g. 90s, 10m or 1h");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        return Err(format!("{text:?} is zero; give a time a volume may take, e.g. 30m"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "m", "10x", "1.5h", "0s", "h1"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn node_slots_bound_movers_per_node() {
        let limits = Limits::new(4, 1);
        let held = limits.acquire(Some("n1")).await;
        let other = tokio::time::timeout(Duration::from_millis(50), limits.acquire(Some("n2"))).await;
        assert!(other.is_ok(), "another node has its own slot");
        let same = tokio::time::timeout(Duration::from_millis(50), limits.acquire(Some("n1"))).await;
        assert!(same.is_err(), "a second mover on n1 waits");
        drop(held);
        assert!(tokio::time::timeout(Duration::from_millis(50), limits.acquire(Some("n1"))).await.is_ok());
    }
}
