//! Queries assembled in pieces (filters, keyset pages) whose shape is the
//! same on every SQL backend: written once here, generic over sqlx's
//! `Database`, with the few dialect-specific fragments supplied by a
//! [`Dialect`](crate::Dialect). Placeholders are the database's own (`?` or `$n`), as
//! `QueryBuilder` numbers them.

use keyward_core::model::{RevokedReason, TokenState};
use keyward_store::{AuditFilter, BulkFilter, Cursor, PageRequest, TokenFilter, TokenOrder, TokenSortKey};
use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::rows::{AUDIT_COLUMNS, TOKEN_COLUMNS};
use crate::Dialect;

/// Appends the keyset condition after `page.after` (if any), newest first
/// by `time_column` then id, and the limit.
pub fn push_cursor<'args, DB>(query: &mut QueryBuilder<'args, DB>, time_column: &str, page: &PageRequest)
where
    DB: Database,
    i64: Encode<'args, DB> + Type<DB>,
    String: Encode<'args, DB> + Type<DB>,
{
    if let Some(cursor) = &page.after {
        query
            .push(format!(" AND ({time_column} < "))
            .push_bind(cursor.micros)
            .push(format!(" OR ({time_column} = "))
            .push_bind(cursor.micros)
            .push(" AND id < ")
            .push_bind(cursor.id.clone())
            .push("))");
    }
    query.push(format!(" ORDER BY {time_column} DESC, id DESC LIMIT ")).push_bind(page.fetch_limit());
}

/// ` WHERE …` selecting the tokens of `org` a bulk revocation with `filter` takes.
pub fn push_bulk_filter<'args, D: Dialect>(query: &mut QueryBuilder<'args, D::Db>, org: &str, filter: &BulkFilter)
where
    i64: Encode<'args, D::Db> + Type<D::Db>,
    String: Encode<'args, D::Db> + Type<D::Db>,
{
    query.push(" WHERE org_id = ").push_bind(org.to_owned());
    query.push(" AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ");
    query.push_bind(filter.now.timestamp_micros()).push(")");
    if let Some(owner) = &filter.owner {
        query.push(" AND owner = ").push_bind(owner.clone());
    }
    if let Some(keyspace) = &filter.keyspace_id {
        query.push(" AND keyspace_id = ").push_bind(keyspace.clone());
    }
    if let Some(prefix) = &filter.name_prefix {
        // substr rather than LIKE: no wildcard in a name can widen the match.
        query.push(" AND substr(name, 1, length(").push_bind(prefix.clone()).push(")) = ").push_bind(prefix.clone());
    }
    if let Some(scope) = &filter.scope {
        let [before, after] = D::HAS_SCOPE;
        query.push(before).push_bind(scope.clone()).push(after);
    }
    if !filter.ids.is_empty() {
        query.push(" AND id IN (");
        let mut ids = query.separated(", ");
        for id in &filter.ids {
            ids.push_bind(id.clone());
        }
        query.push(")");
    }
    if let Some(except) = &filter.except_id {
        query.push(" AND id <> ").push_bind(except.clone());
    }
}

/// How many tokens of `org` a bulk revocation with `filter` would take.
pub fn bulk_count<'args, D: Dialect>(org: &str, filter: &BulkFilter) -> QueryBuilder<'args, D::Db>
where
    <D::Db as Database>::Arguments<'args>: Default,
    i64: Encode<'args, D::Db> + Type<D::Db>,
    String: Encode<'args, D::Db> + Type<D::Db>,
{
    let mut query = QueryBuilder::new("SELECT COUNT(*) FROM tokens");
    push_bulk_filter::<D>(&mut query, org, filter);
    query
}

/// Revokes, at `filter.now` for `reason`, the tokens of `org` a bulk
/// revocation with `filter` takes: returns their rows of
/// [`crate::rows::TokenRow`], digests included.
pub fn bulk_revocation<'args, D: Dialect>(
    org: &str,
    filter: &BulkFilter,
    reason: RevokedReason,
) -> QueryBuilder<'args, D::Db>
where
    <D::Db as Database>::Arguments<'args>: Default,
    i64: Encode<'args, D::Db> + Type<D::Db>,
    String: Encode<'args, D::Db> + Type<D::Db>,
{
    let mut query = QueryBuilder::new("UPDATE tokens SET revoked_at = ");
    query.push_bind(filter.now.timestamp_micros()).push(", revoked_reason = ").push_bind(reason.as_str().to_owned());
    push_bulk_filter::<D>(&mut query, org, filter);
    query.push(format!(" RETURNING {TOKEN_COLUMNS}, digest"));
    query
}

/// One page of the tokens of `org` matching `filter`, in its order: rows
/// of [`crate::rows::TokenRow`] without their digests.
pub fn token_list<'args, D: Dialect>(org: &str, filter: &TokenFilter, page: &PageRequest) -> QueryBuilder<'args, D::Db>
where
    <D::Db as Database>::Arguments<'args>: Default,
    i64: Encode<'args, D::Db> + Type<D::Db>,
    String: Encode<'args, D::Db> + Type<D::Db>,
{
    let mut query =
        QueryBuilder::new(format!("SELECT {TOKEN_COLUMNS}, {} AS digest FROM tokens WHERE org_id = ", D::NO_DIGEST));
    query.push_bind(org.to_owned());
    if let Some(keyspace_id) = &filter.keyspace_id {
        query.push(" AND keyspace_id = ").push_bind(keyspace_id.clone());
    }
    if let Some(owner) = &filter.owner {
        query.push(" AND owner = ").push_bind(owner.clone());
    }
    if let Some(key) = &filter.idempotency_key {
        query.push(" AND idempotency_key = ").push_bind(key.clone());
    }
    if let Some(needle) = &filter.name_contains {
        let [before, after] = D::NAME_CONTAINS;
        query.push(before).push_bind(needle.clone()).push(after);
    }
    if let Some(scope) = &filter.scope {
        let [before, after] = D::HAS_SCOPE;
        query.push(before).push_bind(scope.clone()).push(after);
    }
    if let Some(before) = filter.expires_before {
        query.push(" AND expires_at < ").push_bind(before.timestamp_micros());
    }
    if filter.replaced {
        query.push(" AND replaced_by IS NOT NULL");
    }
    let now = filter.now.timestamp_micros();
    match filter.state {
        None => {}
        Some(TokenState::Active) => {
            query
                .push(" AND revoked_at IS NULL AND disabled_at IS NULL AND (expires_at IS NULL OR expires_at > ")
                .push_bind(now)
                .push(")");
        }
        Some(TokenState::Expired) => {
            query.push(" AND revoked_at IS NULL AND disabled_at IS NULL AND expires_at <= ").push_bind(now);
        }
        Some(TokenState::Disabled) => {
            query.push(" AND revoked_at IS NULL AND disabled_at IS NOT NULL");
        }
        Some(TokenState::Revoked) => {
            query.push(" AND revoked_at IS NOT NULL");
        }
    }
    push_token_order::<D>(&mut query, filter.order, page);
    query
}

/// Appends a token list's keyset condition, order and limit.
fn push_token_order<'args, D: Dialect>(query: &mut QueryBuilder<'args, D::Db>, order: TokenOrder, page: &PageRequest)
where
    i64: Encode<'args, D::Db> + Type<D::Db>,
    String: Encode<'args, D::Db> + Type<D::Db>,
{
    let (key, after, direction) = order.keyset_sql(D::LOWERED_NAME);
    if let Some(cursor) = &page.after {
        query.push(format!(" AND ({key} {after} "));
        push_key(query, order, cursor);
        query.push(format!(" OR ({key} = "));
        push_key(query, order, cursor);
        query.push(format!(" AND id {after} ")).push_bind(cursor.id.clone()).push("))");
    }
    query.push(format!(" ORDER BY {key} {direction}, id {direction} LIMIT ")).push_bind(page.fetch_limit());
}

fn push_key<'args, DB>(query: &mut QueryBuilder<'args, DB>, order: TokenOrder, cursor: &Cursor)
where
    DB: Database,
    i64: Encode<'args, DB> + Type<DB>,
    String: Encode<'args, DB> + Type<DB>,
{
    if order.key == TokenSortKey::Name {
        query.push_bind(cursor.text.clone().unwrap_or_default());
    } else {
        query.push_bind(cursor.micros);
    }
}

/// One page of the audit events of `org` matching `filter`, newest first:
/// rows of [`crate::rows::AuditRow`].
pub fn audit_list<'args, DB>(org: &str, filter: &AuditFilter, page: &PageRequest) -> QueryBuilder<'args, DB>
where
    DB: Database,
    <DB as Database>::Arguments<'args>: Default,
    i64: Encode<'args, DB> + Type<DB>,
    String: Encode<'args, DB> + Type<DB>,
{
    let mut query = QueryBuilder::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE org_id = "));
    query.push_bind(org.to_owned());
    if let Some(actor) = &filter.actor {
        query.push(" AND actor = ").push_bind(actor.clone());
    }
    if let Some(action) = &filter.action {
        query.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(target) = &filter.target_id {
        query.push(" AND target_id = ").push_bind(target.clone());
    }
    if let Some(since) = filter.since {
        query.push(" AND occurred_at >= ").push_bind(since.timestamp_micros());
    }
    if let Some(until) = filter.until {
        query.push(" AND occurred_at < ").push_bind(until.timestamp_micros());
    }
    push_cursor(&mut query, "occurred_at", page);
    query
}
