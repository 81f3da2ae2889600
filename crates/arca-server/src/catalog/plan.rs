//! What a sync does with a location's Backups (pure): which snapshots get
//! a new `Backup` object and under which name, and which objects' snapshot
//! presence must be (re)written.

use std::collections::BTreeSet;

use arca_api::labels;
use arca_api::{Backup, BackupLocation, BackupPhase};
use kube::ResourceExt;

use super::read::StoredBackup;
use super::status::{SNAPSHOT_PRESENT, short};

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// (object name, index into the stored backups) of Backups to create.
    pub create: Vec<(String, usize)>,
    /// (object name, present) of Backups whose `SnapshotPresent` changes.
    pub presence: Vec<(String, bool)>,
}

/// The snapshot a Backup object stands for.
pub fn snapshot_of(b: &Backup) -> Option<&str> {
    b.status.as_ref().and_then(|s| s.snapshot.as_deref()).or(b.spec.snapshot.as_deref()).filter(|s| !s.is_empty())
}

/// Ids match in full, or one is a prefix (at least 8 hex) of the other.
pub fn same_snapshot(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    a == b || (a.len().min(b.len()) >= 8 && (a.starts_with(&b) || b.starts_with(&a)))
}

/// Whether a Backup uses this location.
pub fn uses_location(b: &Backup, loc: &BackupLocation) -> bool {
    let name = loc.name_any();
    match &b.spec.location {
        Some(l) => *l == name,
        None => b.labels().get(labels::LOCATION) == Some(&name) || loc.spec.default,
    }
}

fn phase(b: &Backup) -> BackupPhase {
    b.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

fn condition_status(b: &Backup, type_: &str) -> Option<String> {
    b.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.status.clone())
}

/// A valid object name for a backup's name: lower case, `[a-z0-9.-]`,
/// alphanumeric at both ends; names that had to change get the snapshot's
/// short id so two different names never map to one.
pub fn object_name(backup: &str, id: &str) -> String {
    let mapped: String = backup
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }
        })
        .collect();
    let mut name = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    name.truncate(200);
    let name = name.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    if name.is_empty() {
        format!("backup-{}", short(id))
    } else if name != backup {
        format!("{name}-{}", short(id))
    } else {
        name
    }
}

pub fn plan(loc: &BackupLocation, objects: &[Backup], stored: &[StoredBackup]) -> Plan {
    let mut out = Plan::default();
    let mut taken: BTreeSet<String> = objects.iter().map(|b| b.name_any()).collect();
    for (i, s) in stored.iter().enumerate() {
        if objects.iter().any(|b| snapshot_of(b).is_some_and(|id| same_snapshot(id, &s.id))) {
            continue;
        }
        let base = object_name(&s.name, &s.id);
        // An object of that name on this location still working has not
        // recorded its snapshot yet: it is the one that wrote it.
        let writing = objects.iter().any(|b| {
            b.name_any() == base
                && uses_location(b, loc)
                && snapshot_of(b).is_none()
                && !phase(b).is_final()
                && b.metadata.deletion_timestamp.is_none()
        });
        if writing {
            continue;
        }
        let name = [base.clone(), format!("{base}-{}", short(&s.id))].into_iter().find(|n| !taken.contains(n));
        if let Some(name) = name {
            taken.insert(name.clone());
            out.create.push((name, i));
        }
    }
    for b in objects.iter().filter(|b| uses_location(b, loc) && b.metadata.deletion_timestamp.is_none()) {
        let Some(id) = snapshot_of(b) else { continue };
        if !phase(b).is_final() {
            continue;
        }
        let present = stored.iter().any(|s| same_snapshot(id, &s.id));
        let current = condition_status(b, SNAPSHOT_PRESENT);
        let change = match (present, current.as_deref()) {
            (false, Some("False")) => false,
            (false, _) => true,
            (true, Some("False")) => true,
            (true, _) => false,
        };
        if change {
            out.presence.push((b.name_any(), present));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_api::common::Condition;
    use arca_api::{BackupLocationSpec, BackupSpec, BackupStatus};

    fn loc(name: &str, default: bool) -> BackupLocation {
        let mut l = BackupLocation::new(name, BackupLocationSpec { default, ..Default::default() });
        l.metadata.namespace = Some("shop".into());
        l
    }

    fn stored(name: &str, id: &str) -> StoredBackup {
        StoredBackup {
            id: id.into(),
            name: name.into(),
            time: chrono::Utc::now(),
            tags: vec![],
            report: Err("not needed".into()),
        }
    }

    fn object(name: &str, location: Option<&str>, snapshot: Option<&str>, phase: BackupPhase) -> Backup {
        let mut b = Backup::new(name, BackupSpec { location: location.map(String::from), ..Default::default() });
        b.status = Some(BackupStatus { phase, snapshot: snapshot.map(String::from), ..Default::default() });
        b
    }

    const A: &str = "aaaaaaaa11111111";
    const B: &str = "bbbbbbbb22222222";

    #[test]
    fn object_names_are_valid_and_distinct() {
        let cases = [
            ("nightly-1", A, "nightly-1"),
            ("Nightly_1", A, "nightly-1-aaaaaaaa"),
            ("--x--", A, "x-aaaaaaaa"),
            ("", A, "backup-aaaaaaaa"),
            ("a/b", B, "a-b-bbbbbbbb"),
        ];
        for (name, id, want) in cases {
            assert_eq!(object_name(name, id), want, "{name}");
        }
    }

    #[test]
    fn snapshots_without_objects_get_one_and_taken_names_a_suffix() {
        struct Case {
            what: &'static str,
            objects: Vec<Backup>,
            stored: Vec<StoredBackup>,
            create: Vec<(&'static str, usize)>,
        }
        let cases = vec![
            Case {
                what: "fresh cluster",
                objects: vec![],
                stored: vec![stored("one", A), stored("two", B)],
                create: vec![("one", 0), ("two", 1)],
            },
            Case {
                what: "already there by status.snapshot (prefix)",
                objects: vec![object("one", Some("main"), Some("aaaaaaaa"), BackupPhase::Completed)],
                stored: vec![stored("one", A)],
                create: vec![],
            },
            Case {
                what: "name taken by an unrelated backup",
                objects: vec![object("one", Some("main"), Some(B), BackupPhase::Completed)],
                stored: vec![stored("one", A)],
                create: vec![("one-aaaaaaaa", 0)],
            },
            Case {
                what: "the object writing it has not recorded its snapshot yet",
                objects: vec![object("one", Some("main"), None, BackupPhase::InProgress)],
                stored: vec![stored("one", A)],
                create: vec![],
            },
            Case {
                what: "name taken by a running backup of another location",
                objects: vec![object("one", Some("elsewhere"), None, BackupPhase::New)],
                stored: vec![stored("one", A)],
                create: vec![("one-aaaaaaaa", 0)],
            },
            Case {
                what: "two snapshots of one name",
                objects: vec![],
                stored: vec![stored("one", A), stored("one", B)],
                create: vec![("one", 0), ("one-bbbbbbbb", 1)],
            },
        ];
        for c in cases {
            let p = plan(&loc("main", false), &c.objects, &c.stored);
            let got: Vec<(&str, usize)> = p.create.iter().map(|(n, i)| (n.as_str(), *i)).collect();
            assert_eq!(got, c.create, "{}", c.what);
        }
    }

    #[test]
    fn vanished_snapshots_are_marked_once_and_unmarked_when_back() {
        let l = loc("main", false);
        let done = object("one", Some("main"), Some(A), BackupPhase::Completed);
        let other_loc = object("two", Some("other"), Some(B), BackupPhase::Completed);
        let running = object("three", Some("main"), Some(B), BackupPhase::InProgress);
        let p = plan(&l, &[done.clone(), other_loc, running], &[]);
        assert_eq!(p.presence, vec![("one".to_string(), false)]);

        let mut marked = done.clone();
        if let Some(s) = marked.status.as_mut() {
            s.conditions.push(Condition::new(SNAPSHOT_PRESENT, false, "SnapshotMissing", ""));
        }
        assert_eq!(plan(&l, std::slice::from_ref(&marked), &[]).presence, vec![], "no second write");
        assert_eq!(plan(&l, &[marked], &[stored("one", A)]).presence, vec![("one".to_string(), true)]);
        assert_eq!(plan(&l, &[done], &[stored("one", A)]).presence, vec![], "present and unmarked: nothing to write");
    }

    #[test]
    fn a_backup_without_a_location_uses_the_default_one() {
        let b = object("one", None, Some(A), BackupPhase::Completed);
        assert!(uses_location(&b, &loc("main", true)));
        assert!(!uses_location(&b, &loc("main", false)));
    }
}
