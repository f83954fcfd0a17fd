//! Organizations and their keyspaces on SQLite: the statements are shared
//! (`keyward_store_sql::organizations`); this names the pools its calls
//! run on.

use crate::{SqliteDialect, SqliteStore};

keyward_store_sql::organization_store!(SqliteStore, SqliteDialect, reader: reader, writer: writer);
