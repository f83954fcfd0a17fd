//! Tokens on SQLite: the statements are shared (`keyward_store_sql::tokens`);
//! this file names the pools they run on, and sends creations, the write
//! that comes in bursts, to the group commit (see `group_commit`).

use keyward_store::StoreError;
use keyward_store_sql::tokens::Creation;

use crate::{group_commit, SqliteDialect, SqliteStore};

impl SqliteStore {
    /// Queues a creation for the writer task and waits for its commit; see
    /// `TokenStore::create_token`.
    pub(crate) async fn create_token_sql(&self, creation: Creation<'_>) -> Result<(), StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = group_commit::CreateJob {
            token: creation.token.clone(),
            digest: *creation.digest,
            event: creation.event.clone(),
            limit: creation.limit,
            reply,
        };
        let stopped = || StoreError::Backend(Box::new(std::io::Error::other("the SQLite writer task has stopped")));
        self.creations.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

keyward_store_sql::token_store!(SqliteStore, SqliteDialect, reader: reader, writer: writer);
