//! Usage of tokens (use counts, days, client lists, verification samples),
//! written once for both SQL backends; where the statements differ (how
//! the larger of two values is taken, how each token's last success is
//! picked) the dialect supplies the SQL.

use std::marker::PhantomData;

use keyward_store::decode::{ClientRow, SampleRow};
use keyward_store::{
    ClientSighting, DailyUsage, StoreError, UsageDelta, VerificationSample, MAX_CLIENTS_PER_TOKEN,
    MAX_SAMPLES_PER_TOKEN,
};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use crate::write::Connection;
use crate::{backend, Dialect};

/// The usage operations of dialect `D`, on its pools.
pub struct Usage<D>(PhantomData<D>);

impl<D: Dialect> Usage<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> D::Json: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> D::Count: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<D::Json>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<D::Count>: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> ClientRow: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'r> SampleRow: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'r> (i64, i64): FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
{
    pub async fn record_client_sightings(writer: &Pool<D::Db>, sightings: &[ClientSighting]) -> Result<(), StoreError> {
        if sightings.is_empty() {
            return Ok(());
        }
        // Insert-or-add in one statement, so instances flushing the same
        // client at once both count. The cap is judged before the insert
        // and may be passed by a racing instance or two (PostgreSQL): it
        // bounds a flood, it is not a contract.
        let sql = format!(
            "INSERT INTO token_clients (token_id, client_ip, user_agent, uses, first_seen_at, last_seen_at)
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = $1)
               AND ((SELECT COUNT(*) FROM token_clients WHERE token_id = $1) < $7
                    OR EXISTS (SELECT 1 FROM token_clients WHERE token_id = $1 AND client_ip = $2 AND user_agent = $3))
             ON CONFLICT (token_id, client_ip, user_agent) DO UPDATE
             SET uses = token_clients.uses + excluded.uses,
                 last_seen_at = {}(token_clients.last_seen_at, excluded.last_seen_at)",
            D::GREATEST
        );
        let mut tx = writer.begin().await.map_err(backend)?;
        for sighting in sightings {
            sqlx::query(&sql)
                .bind(&sighting.token_id)
                .bind(sighting.client_ip.as_deref().unwrap_or_default())
                .bind(sighting.user_agent.as_deref().unwrap_or_default())
                .bind(i64::try_from(sighting.uses).unwrap_or(i64::MAX))
                .bind(sighting.first_seen_at.timestamp_micros())
                .bind(sighting.last_seen_at.timestamp_micros())
                .bind(MAX_CLIENTS_PER_TOKEN)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    pub async fn list_token_clients(
        reader: &Pool<D::Db>,
        org: &str,
        token_id: &str,
    ) -> Result<Vec<ClientSighting>, StoreError> {
        let rows: Vec<keyward_store::decode::ClientRow> = sqlx::query_as(
            "SELECT c.token_id, c.client_ip, c.user_agent, c.uses, c.first_seen_at, c.last_seen_at
             FROM token_clients c JOIN tokens t ON t.id = c.token_id
             WHERE t.org_id = $1 AND c.token_id = $2 ORDER BY c.last_seen_at DESC, c.client_ip, c.user_agent",
        )
        .bind(org)
        .bind(token_id)
        .fetch_all(reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::client_sighting).collect())
    }

    pub async fn record_usage(writer: &Pool<D::Db>, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut tx = writer.begin().await.map_err(backend)?;
        for delta in deltas {
            sqlx::query(D::RECORD_USES[0])
                .bind(i64::try_from(delta.uses).unwrap_or(i64::MAX))
                .bind(delta.last_used_at.timestamp_micros())
                .bind(&delta.token_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            // A batch is seconds long: its uses count on the day of its last one.
            sqlx::query(D::RECORD_USES[1])
                .bind(&delta.token_id)
                .bind(keyward_store::day_of(delta.last_used_at))
                .bind(i64::try_from(delta.uses).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    pub async fn usage_by_day(
        reader: &Pool<D::Db>,
        org: &str,
        token_id: &str,
        since_day: i64,
    ) -> Result<Vec<DailyUsage>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT d.day, d.uses FROM token_usage_days d JOIN tokens t ON t.id = d.token_id
             WHERE t.org_id = $1 AND d.token_id = $2 AND d.day >= $3 ORDER BY d.day",
        )
        .bind(org)
        .bind(token_id)
        .bind(since_day)
        .fetch_all(reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::daily_usage).collect())
    }

    pub async fn record_verification_samples(
        writer: &Pool<D::Db>,
        samples: &[VerificationSample],
    ) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut tx = writer.begin().await.map_err(backend)?;
        for sample in samples {
            sqlx::query(
                "INSERT INTO token_verifications (token_id, at, outcome, client_ip, user_agent)
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = $1)",
            )
            .bind(&sample.token_id)
            .bind(sample.at.timestamp_micros())
            .bind(&sample.outcome)
            .bind(sample.client_ip.as_deref().unwrap_or_default())
            .bind(sample.user_agent.as_deref().unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        let mut tokens: Vec<&str> = samples.iter().map(|sample| sample.token_id.as_str()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        for token_id in tokens {
            sqlx::query(
                "DELETE FROM token_verifications WHERE token_id = $1 AND id NOT IN
                 (SELECT id FROM token_verifications WHERE token_id = $1 ORDER BY at DESC, id DESC LIMIT $2)",
            )
            .bind(token_id)
            .bind(MAX_SAMPLES_PER_TOKEN)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    /// Each token's newest successful sample; see
    /// `UsageStore::last_successful_verifications`.
    pub async fn last_successful_verifications(
        reader: &Pool<D::Db>,
        org: &str,
        token_ids: &[String],
    ) -> Result<Vec<VerificationSample>, StoreError> {
        if token_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<SampleRow> = sqlx::query_as(D::LAST_SUCCESSES)
            .bind(org)
            .bind(D::json(&token_ids)?)
            .fetch_all(reader)
            .await
            .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::verification_sample).collect())
    }

    pub async fn recent_verifications(
        reader: &Pool<D::Db>,
        org: &str,
        token_id: &str,
        limit: u32,
    ) -> Result<Vec<VerificationSample>, StoreError> {
        let rows: Vec<keyward_store::decode::SampleRow> = sqlx::query_as(
            "SELECT v.token_id, v.at, v.outcome, v.client_ip, v.user_agent
             FROM token_verifications v JOIN tokens t ON t.id = v.token_id
             WHERE t.org_id = $1 AND v.token_id = $2 ORDER BY v.at DESC, v.id DESC LIMIT $3",
        )
        .bind(org)
        .bind(token_id)
        .bind(i64::from(limit))
        .fetch_all(reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::verification_sample).collect())
    }
}
