//! Usage of tokens: the shared statements (`keyward_store_sql::usage`) on
//! this backend's pools, and the two whose shape is its own.

use keyward_store::{ClientSighting, StoreError, VerificationSample, MAX_CLIENTS_PER_TOKEN};

use crate::{backend, SqliteDialect, SqliteStore};

impl SqliteStore {
    /// Adds client sightings; see `UsageStore::record_client_sightings`.
    pub(crate) async fn record_client_sightings_sql(&self, sightings: &[ClientSighting]) -> Result<(), StoreError> {
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

    /// Each token's newest successful sample; see
    /// `UsageStore::last_successful_verifications`.
    pub(crate) async fn last_successful_verifications_sql(
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
}

keyward_store_sql::usage_store!(SqliteStore, SqliteDialect, reader: reader, writer: writer);
