//! Two clusters of different Kubernetes releases for migration tests: back up
//! from the source, restore into the target.

use crate::{Error, TestCluster};

/// A source and a target cluster imitating two releases.
pub struct Migration {
    pub source: TestCluster,
    pub target: TestCluster,
}

impl Migration {
    /// Starts a source imitating `from` and a target imitating `to`
    /// (`Migration::start("1.25", "1.33")`).
    pub async fn start(from: &str, to: &str) -> Result<Migration, Error> {
        let source = TestCluster::builder().kubernetes_version(from).start().await?;
        let target = TestCluster::builder().kubernetes_version(to).start().await?;
        Ok(Migration { source, target })
    }

    /// Group versions the source serves and the target does not: objects
    /// backed up at these must be restored at another version of their group.
    pub fn removed_group_versions(&self) -> Vec<String> {
        let kept = self.target.served_group_versions();
        self.source.served_group_versions().into_iter().filter(|gv| !kept.contains(gv)).collect()
    }
}
