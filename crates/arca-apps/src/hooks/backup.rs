//! Backup hooks: pre and post commands around a pod's snapshots.
