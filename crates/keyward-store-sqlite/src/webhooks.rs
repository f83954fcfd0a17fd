//! Webhook endpoints and their delivery outbox on SQLite: the statements
//! are shared (`keyward_store_sql::webhooks`); this file names the pools
//! its calls run on.

use crate::{SqliteDialect, SqliteStore};

keyward_store_sql::webhook_store!(SqliteStore, SqliteDialect, reader: reader, writer: writer);
