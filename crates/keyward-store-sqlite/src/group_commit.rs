//! Group commit for token creation.
//!
//! With `synchronous=FULL` every commit waits for an fsync, and one writer
//! connection means those waits are serialized: creation throughput would be
//! one token per fsync. Instead, creations queue for a single writer task,
//! which takes everything waiting (up to [`MAX_BATCH`]), runs each creation
//! inside its own SAVEPOINT of one transaction, commits once, and only then
//! answers each caller. Every acknowledged creation is durable; a failing
//! creation (a duplicate digest, a missing keyspace, an owner at the active
//! token limit) is rolled back to its
//! savepoint without touching its neighbours; an I/O fault in any of them,
//! or a failed commit, fails them all.

use keyward_core::model::{AuditEvent, TokenRecord};
use keyward_core::TokenDigest;
use keyward_store::{ActiveTokenLimit, StoreError};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use keyward_store_sql::tokens::{Creation, Tokens};

use crate::{backend, SqliteDialect};

/// Most creations committed together.
pub const MAX_BATCH: usize = 256;

/// One queued creation.
pub struct CreateJob {
    pub token: TokenRecord,
    pub digest: TokenDigest,
    pub event: AuditEvent,
    pub limit: Option<ActiveTokenLimit>,
    pub reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Starts the writer task; it ends when every sender is dropped.
pub fn spawn(pool: SqlitePool) -> mpsc::Sender<CreateJob> {
    let (sender, mut receiver) = mpsc::channel::<CreateJob>(MAX_BATCH * 4);
    tokio::spawn(async move {
        while let Some(first) = receiver.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let results = commit_batch(&pool, &batch).await;
            for (job, result) in batch.into_iter().zip(results) {
                // The caller may have gone away (request cancelled); its
                // token is committed all the same, as with any write.
                let _ = job.reply.send(result);
            }
        }
    });
    sender
}

// Boxed at a concrete lifetime (as `async_trait` does for the `Store`
// methods): rustc cannot otherwise prove the future `Send` for the spawned task.
fn commit_batch<'a>(pool: &'a SqlitePool, batch: &'a [CreateJob]) -> BatchFuture<'a> {
    Box::pin(commit_batch_inner(pool, batch))
}

type BatchFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Result<(), StoreError>>> + Send + 'a>>;

async fn commit_batch_inner(pool: &SqlitePool, batch: &[CreateJob]) -> Vec<Result<(), StoreError>> {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(error) => return batch.iter().map(|_| Err(copy_error(&error))).collect(),
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        match run_job(&mut tx, job).await {
            Err(StoreError::Backend(error)) => {
                // An I/O fault (a full disk) may have made SQLite roll the
                // whole transaction back already: the creations before this
                // one are gone, and a later savepoint would start a
                // transaction of its own. Nothing in this batch is kept.
                let message = format!("group commit failed: {error}");
                return batch
                    .iter()
                    .map(|_| Err(StoreError::Backend(Box::new(std::io::Error::other(message.clone())))))
                    .collect();
            }
            refused_or_done => results.push(refused_or_done),
        }
    }
    if let Err(error) = tx.commit().await {
        return batch.iter().map(|_| Err(copy_error(&error))).collect();
    }
    results
}

/// One creation inside its own savepoint: on failure only it is undone.
async fn run_job(tx: &mut Transaction<'_, Sqlite>, job: &CreateJob) -> Result<(), StoreError> {
    sqlx::query("SAVEPOINT create_token").execute(&mut **tx).await.map_err(backend)?;
    let inserted = insert_job(tx, job).await;
    if inserted.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT create_token").execute(&mut **tx).await.map_err(backend)?;
    }
    sqlx::query("RELEASE SAVEPOINT create_token").execute(&mut **tx).await.map_err(backend)?;
    inserted
}

async fn insert_job(tx: &mut Transaction<'_, Sqlite>, job: &CreateJob) -> Result<(), StoreError> {
    // This task is the only writer, so the count cannot move before the
    // insert: creations racing for one owner are judged one after another.
    let creation = Creation { token: &job.token, digest: &job.digest, event: &job.event, limit: job.limit };
    Tokens::<SqliteDialect>::create_in(tx, creation).await
}

fn copy_error(error: &sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(std::io::Error::other(format!("group commit failed: {error}"))))
}
