//! Users, memberships, invitations, sessions and service accounts on
//! PostgreSQL: the statements are shared (`keyward_store_sql::accounts`);
//! this file names the pools its calls run on.

use keyward_core::model::{Member, User};
use keyward_store::StoreError;
use keyward_store_sql::accounts::Accounts;
use sqlx::{Postgres, Transaction};

use crate::{PostgresDialect, PostgresStore};

pub(crate) async fn insert_user(tx: &mut Transaction<'_, Postgres>, user: &User) -> Result<(), StoreError> {
    Accounts::<PostgresDialect>::insert_user(tx, user).await
}

pub(crate) async fn insert_member(tx: &mut Transaction<'_, Postgres>, member: &Member) -> Result<(), StoreError> {
    Accounts::<PostgresDialect>::insert_member(tx, member).await
}

keyward_store_sql::account_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
