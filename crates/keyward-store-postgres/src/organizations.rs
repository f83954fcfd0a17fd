//! Organizations and their keyspaces on PostgreSQL: the statements are shared
//! (`keyward_store_sql::organizations`); this names the pools its calls
//! run on.

use crate::{PostgresDialect, PostgresStore};

keyward_store_sql::organization_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
