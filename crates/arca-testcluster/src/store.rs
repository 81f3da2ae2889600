//! In-memory object storage with a global resourceVersion and an event history.
//!
//! Objects are stored as JSON keyed by `(group, plural)` then `(namespace, name)`;
//! every write gets the next resourceVersion and is recorded as a watch event. The
//! history keeps each event's previous object, which lets paged lists read a
//! consistent snapshot at the resourceVersion of their first page.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

/// `(group, plural)`.
pub type ResKey = (String, String);
/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type ObjKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One recorded change.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub res: ResKey,
    pub key: ObjKey,
    pub object: Arc<Value>,
    pub prev: Option<Arc<Value>>,
}

/// A live feed of events.
pub type Subscription = broadcast::Receiver<Arc<Event>>;

/// How many events are kept for watches and consistent paging.
const HISTORY_LIMIT: usize = 200_000;

pub struct Store {
    objects: HashMap<ResKey, BTreeMap<ObjKey, Value>>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    /// Events with a resourceVersion at or below this were evicted from the history.
    floor: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Store {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(65_536);
        Store { objects: HashMap::new(), rv: 1, history: VecDeque::new(), floor: 1, tx }
    }
}

pub fn res_key(group: &str, plural: &str) -> ResKey {
    (group.to_string(), plural.to_string())
}

pub fn obj_key(namespace: &str, name: &str) -> ObjKey {
    (namespace.to_string(), name.to_string())
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

impl Store {
    /// The current (latest) resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, res: &ResKey, key: &ObjKey) -> Option<&Value> {
        self.objects.get(res)?.get(key)
    }

    /// Objects of a resource, in key order, optionally within one namespace.
    pub fn iter<'a>(
        &'a self,
        res: &ResKey,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjKey, &'a Value)> + 'a {
        self.objects
            .get(res)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |(k, _)| namespace.is_none_or(|ns| k.0 == ns))
    }

    /// Resources that hold at least one object.
    pub fn resources(&self) -> Vec<ResKey> {
        self.objects.iter().filter(|(_, m)| !m.is_empty()).map(|(k, _)| k.clone()).collect()
    }

    /// Stores `obj` under a new resourceVersion and records the event.
    pub fn put(&mut self, res: &ResKey, key: &ObjKey, mut obj: Value) -> Value {
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        let prev = self.objects.entry(res.clone()).or_default().insert(key.clone(), obj.clone());
        let kind = if prev.is_some() { EventType::Modified } else { EventType::Added };
        self.record(kind, res, key, obj.clone(), prev);
        obj
    }

    /// Removes an object; the DELETED event carries a new resourceVersion.
    pub fn remove(&mut self, res: &ResKey, key: &ObjKey) -> Option<Value> {
        let prev = self.objects.get_mut(res)?.remove(key)?;
        self.rv += 1;
        let mut obj = prev.clone();
        set_rv(&mut obj, self.rv);
        self.record(EventType::Deleted, res, key, obj.clone(), Some(prev));
        Some(obj)
    }

    fn record(&mut self, kind: EventType, res: &ResKey, key: &ObjKey, obj: Value, prev: Option<Value>) {
        let event = Arc::new(Event {
            rv: self.rv,
            kind,
            res: res.clone(),
            key: key.clone(),
            object: Arc::new(obj),
            prev: prev.map(Arc::new),
        });
        self.history.push_back(event.clone());
        while self.history.len() > HISTORY_LIMIT {
            if let Some(old) = self.history.pop_front() {
                self.floor = old.rv;
            }
        }
        // Nobody listening is fine.
        let _ = self.tx.send(event);
    }

    /// Subscribes to future events and returns the recorded events after `rv`,
    /// or `None` when the history no longer reaches back to `rv`.
    pub fn watch_from(&self, rv: u64) -> Option<(Vec<Arc<Event>>, Subscription)> {
        if rv < self.floor {
            return None;
        }
        let rx = self.tx.subscribe();
        let past = self.history.iter().filter(|e| e.rv > rv).cloned().collect();
        Some((past, rx))
    }

    /// Forgets the event history, like an etcd compaction: watches and continue
    /// tokens from before now answer `410 Gone`.
    pub fn compact(&mut self) {
        self.history.clear();
        self.floor = self.rv;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// One page of `res` as it was at resourceVersion `at` (`None`: now), in
    /// key order after `after`, optionally within one namespace, keeping the
    /// objects `keep` accepts. Reads only as far as the page needs, so paging
    /// through a large collection costs what the pages cost, as in etcd.
    /// `None` when the history no longer reaches back to `at`.
    pub fn page(&self, req: &PageRequest<'_>, keep: impl Fn(&Value) -> bool) -> Option<Page> {
        if req.at.is_some_and(|at| at < self.floor) {
            return None;
        }
        let after = req.after;
        let in_range = |k: &ObjKey| after.is_none_or(|a| k > a) && req.namespace.is_none_or(|ns| k.0 == ns);
        // What changed since `at`, as it was then: the earliest event after `at` holds it.
        let mut past: BTreeMap<&ObjKey, Option<&Value>> = BTreeMap::new();
        if let Some(at) = req.at {
            for e in self.history.iter().rev().take_while(|e| e.rv > at) {
                if &e.res == req.res && in_range(&e.key) {
                    past.insert(&e.key, e.prev.as_deref());
                }
            }
        }
        let empty = BTreeMap::new();
        let current = self.objects.get(req.res).unwrap_or(&empty);
        let lower = match (after, req.namespace) {
            (Some(a), _) => Bound::Excluded(a.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let now =
            current.range((lower, Bound::Unbounded)).take_while(|(k, _)| req.namespace.is_none_or(|ns| k.0 == ns));
        let mut merged = merge_past(now.map(|(k, v)| (k, Some(v))), past.into_iter()).filter(|(_, v)| keep(v));
        let mut page = Page::default();
        for (k, v) in merged.by_ref() {
            if req.limit > 0 && page.items.len() >= req.limit {
                page.remaining = 1;
                break;
            }
            page.items.push((k.clone(), v.clone()));
        }
        if page.remaining > 0 && req.count_remaining {
            page.remaining += merged.count();
        }
        Some(page)
    }
}

/// What to read with [`Store::page`].
pub struct PageRequest<'a> {
    pub res: &'a ResKey,
    pub at: Option<u64>,
    pub after: Option<&'a ObjKey>,
    pub namespace: Option<&'a str>,
    /// 0: no limit.
    pub limit: usize,
    /// Count every remaining object (else only whether there is one more).
    pub count_remaining: bool,
}

/// A page of objects and how many remain after it.
#[derive(Default)]
pub struct Page {
    pub items: Vec<(ObjKey, Value)>,
    pub remaining: usize,
}

/// Merges current objects with their past versions (both in key order): a
/// key in `past` takes its past value, `None` meaning it did not exist then.
fn merge_past<'a>(
    now: impl Iterator<Item = (&'a ObjKey, Option<&'a Value>)>,
    past: impl Iterator<Item = (&'a ObjKey, Option<&'a Value>)>,
) -> impl Iterator<Item = (&'a ObjKey, &'a Value)> {
    let (mut now, mut past) = (now.peekable(), past.peekable());
    std::iter::from_fn(move || {
        loop {
            let take_past = match (now.peek(), past.peek()) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((a, _)), Some((b, _))) => {
                    if a == b {
                        now.next();
                        true
                    } else {
                        b < a
                    }
                }
            };
            let (k, v) = if take_past { past.next()? } else { now.next()? };
            if let Some(v) = v {
                return Some((k, v));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshot_reads_the_past() {
        let mut s = Store::default();
        let res = res_key("", "configmaps");
        s.put(&res, &obj_key("a", "1"), json!({"metadata": {"name": "1"}, "v": 1}));
        let at = s.rv();
        s.put(&res, &obj_key("a", "1"), json!({"metadata": {"name": "1"}, "v": 2}));
        s.put(&res, &obj_key("a", "2"), json!({"metadata": {"name": "2"}}));
        let req =
            |limit| PageRequest { res: &res, at: Some(at), after: None, namespace: None, limit, count_remaining: true };
        let page = s.page(&req(0), |_| true).expect("page");
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].1["v"], 1);
        s.remove(&res, &obj_key("a", "1"));
        let page = s.page(&req(0), |_| true).expect("page");
        assert_eq!(page.items[0].1["v"], 1);
        s.put(&res, &obj_key("a", "0"), json!({"metadata": {"name": "0"}}));
        let now = PageRequest { at: None, limit: 1, ..req(1) };
        let page = s.page(&now, |_| true).expect("page");
        assert_eq!((page.items[0].0.clone(), page.remaining), (obj_key("a", "0"), 1));
        let after = obj_key("a", "0");
        let rest = s.page(&PageRequest { after: Some(&after), ..now }, |_| true).expect("page");
        assert_eq!((rest.items[0].0.clone(), rest.remaining), (obj_key("a", "2"), 0));
        let other_ns = s.page(&PageRequest { namespace: Some("b"), ..req(0) }, |_| true).expect("page");
        assert!(other_ns.items.is_empty());
    }
}
