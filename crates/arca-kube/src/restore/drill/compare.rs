//! A drill's object comparison: the same restore planned again as a dry run
//! against what the drill restored. Every object then reads as equal (the
//! live object holds everything the restore would write), differing,
//! missing (the dry run would create it), or skipped for a reason both
//! passes share (managed by the cluster, not restorable).

use serde::{Deserialize, Serialize};

use crate::restore::report::{ItemResult, Outcome};

/// How many names of each kind of problem a drill report keeps.
pub const NAMES_KEPT: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectCheck {
    /// Objects compared (equal + differing + missing).
    pub compared: u64,
    pub equal: u64,
    /// Restored, but the live object lacks or changed something the backup sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differing: Vec<String>,
    /// Not in the drill namespaces although the backup has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Could not be compared (the dry run failed on them), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Skipped by both passes (`object: reason`); not counted as compared.
    #[serde(default)]
    pub skipped: u64,
    /// Names beyond [`NAMES_KEPT`] per list.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ObjectCheck {
    pub fn passed(&self) -> bool {
        self.differing.is_empty() && self.missing.is_empty() && self.failed.is_empty() && self.omitted == 0
    }

    /// Counts one dry-run result.
    pub fn add(&mut self, item: &ItemResult) {
        let reason = item.reason.as_deref().unwrap_or_default();
        let list = match item.outcome {
            Outcome::Unchanged => {
                self.compared += 1;
                self.equal += 1;
                return;
            }
            Outcome::Skipped if reason.contains("differs") => {
                self.compared += 1;
                &mut self.differing
            }
            Outcome::Skipped => {
                self.skipped += 1;
                return;
            }
            // The dry run would create (or, with an update policy, update) it.
            Outcome::Created => {
                self.compared += 1;
                &mut self.missing
            }
            Outcome::Updated => {
                self.compared += 1;
                &mut self.differing
            }
            Outcome::Failed => {
                self.compared += 1;
                self.failed.push(format!("{}: {reason}", item.object));
                if self.failed.len() > NAMES_KEPT {
                    self.failed.pop();
                    self.omitted += 1;
                }
                return;
            }
        };
        if list.len() < NAMES_KEPT {
            list.push(item.object.clone());
        } else {
            self.omitted += 1;
        }
    }

    /// One line for a summary.
    pub fn summary(&self) -> String {
        let mut s = format!("{} of {} object(s) equal the backup", self.equal, self.compared);
        for (n, what) in
            [(self.differing.len(), "differ"), (self.missing.len(), "missing"), (self.failed.len(), "not compared")]
        {
            if n > 0 {
                s.push_str(&format!(", {n} {what}"));
            }
        }
        if self.omitted > 0 {
            s.push_str(&format!(" (+{} more)", self.omitted));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(object: &str, outcome: Outcome, reason: &str) -> ItemResult {
        ItemResult {
            object: object.into(),
            outcome,
            reason: Some(reason.into()),
            converted: None,
            transform: Vec::new(),
            ready: None,
        }
    }

    #[test]
    fn dry_run_outcomes_sort_into_equal_differing_missing() {
        let mut c = ObjectCheck::default();
        c.add(&item("configmaps/a/x", Outcome::Unchanged, "dry run: exists and equals the backup"));
        c.add(&item("secrets/a/s", Outcome::Unchanged, "dry run: exists and equals the backup"));
        assert!(c.passed());
        c.add(&item("services/a/web", Outcome::Skipped, "dry run: exists and differs (conflict); would leave it"));
        c.add(&item("deployments.apps/a/web", Outcome::Created, "dry run: would create"));
        c.add(&item("configmaps/a/kube-root-ca.crt", Outcome::Skipped, "managed by the cluster"));
        c.add(&item("widgets.example.com/a/w", Outcome::Failed, "no definition"));
        assert_eq!((c.compared, c.equal, c.skipped), (5, 2, 1));
        assert_eq!(c.differing, ["services/a/web"]);
        assert_eq!(c.missing, ["deployments.apps/a/web"]);
        assert_eq!(c.failed, ["widgets.example.com/a/w: no definition"]);
        assert!(!c.passed());
        assert_eq!(c.summary(), "2 of 5 object(s) equal the backup, 1 differ, 1 missing, 1 not compared");
    }

    #[test]
    fn names_are_bounded_and_the_rest_counted() {
        let mut c = ObjectCheck::default();
        for i in 0..(NAMES_KEPT + 5) {
            c.add(&item(&format!("configmaps/a/{i}"), Outcome::Created, "dry run: would create"));
        }
        assert_eq!(c.missing.len(), NAMES_KEPT);
        assert_eq!(c.omitted, 5);
        assert_eq!(c.compared, (NAMES_KEPT + 5) as u64);
        assert!(!c.passed());
    }
}
