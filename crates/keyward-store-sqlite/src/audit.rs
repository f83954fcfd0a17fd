//! The audit log: the event every mutation writes in its transaction
//! (shared: `keyward_store_sql::write`), and the log read back.

use crate::{SqliteDialect, SqliteStore};

keyward_store_sql::audit_store!(SqliteStore, SqliteDialect, reader: reader, writer: writer);
