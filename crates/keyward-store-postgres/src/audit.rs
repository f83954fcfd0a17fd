//! The audit log: the event every mutation writes in its transaction
//! (shared: `keyward_store_sql::write`), and the log read back.

use crate::{PostgresDialect, PostgresStore};

keyward_store_sql::audit_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
