//! Usage of tokens: counts, days, client sightings and samples, written in batches.

use async_trait::async_trait;
use keyward_store::{
    ClientSighting, DailyUsage, StoreError, UsageDelta, UsageStore, VerificationSample, MAX_CLIENTS_PER_TOKEN,
    MAX_SAMPLES_PER_TOKEN,
};

use crate::{backend, SqliteStore};

#[async_trait]
impl UsageStore for SqliteStore {
    async fn record_client_sightings(&self, sightings: &[ClientSighting]) -> Result<(), StoreError> {
        if sightings.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for sighting in sightings {
            let client_ip = sighting.client_ip.as_deref().unwrap_or_default();
            let user_agent = sighting.user_agent.as_deref().unwrap_or_default();
            let uses = i64::try_from(sighting.uses).unwrap_or(i64::MAX);
            let updated = sqlx::query(
                "UPDATE token_clients SET uses = uses + ?, last_seen_at = MAX(last_seen_at, ?)
                 WHERE token_id = ? AND client_ip = ? AND user_agent = ?",
            )
            .bind(uses)
            .bind(sighting.last_seen_at.timestamp_micros())
            .bind(&sighting.token_id)
            .bind(client_ip)
            .bind(user_agent)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "INSERT INTO token_clients (token_id, client_ip, user_agent, uses, first_seen_at, last_seen_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = ?1)
                       AND (SELECT COUNT(*) FROM token_clients WHERE token_id = ?1) < ?7",
                )
                .bind(&sighting.token_id)
                .bind(client_ip)
                .bind(user_agent)
                .bind(uses)
                .bind(sighting.first_seen_at.timestamp_micros())
                .bind(sighting.last_seen_at.timestamp_micros())
                .bind(MAX_CLIENTS_PER_TOKEN)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
        }
        tx.commit().await.map_err(backend)
    }

    async fn list_token_clients(&self, org: &str, token_id: &str) -> Result<Vec<ClientSighting>, StoreError> {
        let rows: Vec<(String, String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT c.token_id, c.client_ip, c.user_agent, c.uses, c.first_seen_at, c.last_seen_at
             FROM token_clients c JOIN tokens t ON t.id = c.token_id
             WHERE t.org_id = ? AND c.token_id = ? ORDER BY c.last_seen_at DESC, c.client_ip, c.user_agent",
        )
        .bind(org)
        .bind(token_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::client_sighting).collect())
    }

    async fn record_usage(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for delta in deltas {
            sqlx::query(
                "UPDATE tokens SET use_count = use_count + ?, last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
            )
            .bind(i64::try_from(delta.uses).unwrap_or(i64::MAX))
            .bind(delta.last_used_at.timestamp_micros())
            .bind(&delta.token_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            // A batch is seconds long: its uses count on the day of its last one.
            sqlx::query(
                "INSERT INTO token_usage_days (token_id, day, uses) SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = ?1)
                 ON CONFLICT (token_id, day) DO UPDATE SET uses = uses + excluded.uses",
            )
            .bind(&delta.token_id)
            .bind(keyward_store::day_of(delta.last_used_at))
            .bind(i64::try_from(delta.uses).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn usage_by_day(&self, org: &str, token_id: &str, since_day: i64) -> Result<Vec<DailyUsage>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT d.day, d.uses FROM token_usage_days d JOIN tokens t ON t.id = d.token_id
             WHERE t.org_id = ? AND d.token_id = ? AND d.day >= ? ORDER BY d.day",
        )
        .bind(org)
        .bind(token_id)
        .bind(since_day)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::daily_usage).collect())
    }

    async fn record_verification_samples(&self, samples: &[VerificationSample]) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for sample in samples {
            sqlx::query(
                "INSERT INTO token_verifications (token_id, at, outcome, client_ip, user_agent)
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = ?1)",
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
                "DELETE FROM token_verifications WHERE token_id = ?1 AND id NOT IN
                 (SELECT id FROM token_verifications WHERE token_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2)",
            )
            .bind(token_id)
            .bind(MAX_SAMPLES_PER_TOKEN)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn last_successful_verifications(
        &self,
        org: &str,
        token_ids: &[String],
    ) -> Result<Vec<VerificationSample>, StoreError> {
        if token_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(token_ids).map_err(|error| StoreError::Backend(Box::new(error)))?;
        // With MAX(), SQLite takes the other columns from the row holding
        // the maximum: each token's newest successful sample.
        let rows: Vec<(String, i64, String, String, String)> = sqlx::query_as(
            "SELECT v.token_id, MAX(v.at), v.outcome, v.client_ip, v.user_agent
             FROM token_verifications v JOIN tokens t ON t.id = v.token_id
             WHERE t.org_id = ? AND v.outcome = 'VALID' AND v.token_id IN (SELECT value FROM json_each(?))
             GROUP BY v.token_id",
        )
        .bind(org)
        .bind(ids)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::verification_sample).collect())
    }

    async fn recent_verifications(
        &self,
        org: &str,
        token_id: &str,
        limit: u32,
    ) -> Result<Vec<VerificationSample>, StoreError> {
        let rows: Vec<keyward_store::decode::SampleRow> = sqlx::query_as(
            "SELECT v.token_id, v.at, v.outcome, v.client_ip, v.user_agent
             FROM token_verifications v JOIN tokens t ON t.id = v.token_id
             WHERE t.org_id = ? AND v.token_id = ? ORDER BY v.at DESC, v.id DESC LIMIT ?",
        )
        .bind(org)
        .bind(token_id)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::verification_sample).collect())
    }
}
