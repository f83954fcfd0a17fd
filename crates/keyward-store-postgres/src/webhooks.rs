//! Webhook endpoints and their delivery outbox on PostgreSQL: the statements
//! are shared (`keyward_store_sql::webhooks`); this file names the pools
//! its calls run on.

use crate::{PostgresDialect, PostgresStore};

keyward_store_sql::webhook_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
