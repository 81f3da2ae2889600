//! PostgreSQL's write-ahead log in the repository: `arca wal push|fetch`,
//! base backups and point-in-time recovery.
