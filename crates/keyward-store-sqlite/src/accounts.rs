//! Users, memberships, invitations, sessions and service accounts on
//! SQLite: the statements are shared (`keyward_store_sql::accounts`);
//! this file names the pools its calls run on.

use keyward_core::model::{Member, User};
use keyward_store::StoreError;
use keyward_store_sql::accounts::Accounts;
use sqlx::{Sqlite, Transaction};

use crate::{SqliteDialect, SqliteStore};

pub(crate) async fn insert_user(tx: &mut Transaction<'_, Sqlite>, user: &User) -> Result<(), StoreError> {
    Accounts::<SqliteDialect>::insert_user(tx, user).await
}

pub(crate) async fn insert_member(tx: &mut Transaction<'_, Sqlite>, member: &Member) -> Result<(), StoreError> {
    Accounts::<SqliteDialect>::insert_member(tx, member).await
}

keyward_store_sql::account_store!(SqliteStore, SqliteDialect, reader: reader, writer: writer);
