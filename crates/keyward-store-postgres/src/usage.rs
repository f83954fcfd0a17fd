//! Usage of tokens on PostgreSQL: the statements are shared
//! (`keyward_store_sql::usage`); this names the pool its calls run on.

use crate::{PostgresDialect, PostgresStore};

keyward_store_sql::usage_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
