//! Usage of tokens on SQLite: the statements are shared
//! (`keyward_store_sql::usage`); this names the pools its calls run on.

use crate::{SqliteDialect, SqliteStore};

keyward_store_sql::usage_store!(SqliteStore, SqliteDialect, reader: reader, writer: writer);
