//! Usage of tokens: the shared statements (`keyward_store_sql::usage`) on
//! this backend's pools, and the two whose shape is its own.

use keyward_store::{ClientSighting, StoreError, VerificationSample, MAX_CLIENTS_PER_TOKEN};

use crate::{backend, PostgresDialect, PostgresStore};

impl PostgresStore {
    /// Adds client sightings; see `UsageStore::record_client_sightings`.
    pub(crate) async fn record_client_sightings_sql(&self, sightings: &[ClientSighting]) -> Result<(), StoreError> {
        if sightings.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for sighting in sightings {
            // Insert-or-add in one statement, so instances flushing the same
            // client at once both count. The cap is judged before the insert
            // and may be passed by a racing instance or two: it bounds a
            // flood, it is not a contract.
            sqlx::query(
                "INSERT INTO token_clients (token_id, client_ip, user_agent, uses, first_seen_at, last_seen_at)
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = $1)
                   AND ((SELECT COUNT(*) FROM token_clients WHERE token_id = $1) < $7
                        OR EXISTS (SELECT 1 FROM token_clients WHERE token_id = $1 AND client_ip = $2 AND user_agent = $3))
                 ON CONFLICT (token_id, client_ip, user_agent) DO UPDATE
                 SET uses = token_clients.uses + EXCLUDED.uses,
                     last_seen_at = GREATEST(token_clients.last_seen_at, EXCLUDED.last_seen_at)",
            )
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
        let rows: Vec<keyward_store::decode::SampleRow> = sqlx::query_as(
            "SELECT DISTINCT ON (v.token_id) v.token_id, v.at, v.outcome, v.client_ip, v.user_agent
             FROM token_verifications v JOIN tokens t ON t.id = v.token_id
             WHERE t.org_id = $1 AND v.outcome = 'VALID' AND v.token_id = ANY($2)
             ORDER BY v.token_id, v.at DESC, v.id DESC",
        )
        .bind(org)
        .bind(token_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::verification_sample).collect())
    }
}

keyward_store_sql::usage_store!(PostgresStore, PostgresDialect, reader: pool, writer: pool);
