//! Users, memberships, invitations, sessions and service accounts on
//! PostgreSQL: the statements are shared (`keyward_store_sql::accounts`);
//! this names the pools its calls run on.

use crate::{PostgresDialect, PostgresStore};

keyward_store_sql::account_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
