//! Users, memberships, invitations, sessions and service accounts on
//! SQLite: the statements are shared (`keyward_store_sql::accounts`);
//! this names the pools its calls run on.

use crate::{SqliteDialect, SqliteStore};

keyward_store_sql::account_store!(SqliteStore, SqliteDialect, reader: reader, writer: writer);
