//! A write workload that keeps score of what the store claimed, and the
//! check a restarted process makes: every acknowledged write is there with
//! its audit event, every refused write is absent. Shared by the fault tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::path::Path;

use keyward_core::audit::AuditAction;
use keyward_core::model::{AuditEvent, Keyspace, RevokedReason};
use keyward_core::TokenDigest;
use keyward_store::prelude::*;
use keyward_store::{AuditFilter, PageRequest};
use keyward_store_conformance::fixtures::{self, at, ORG};
use keyward_store_sqlite::SqliteStore;

/// What one write claimed.
enum Claim {
    Created { id: String, digest: TokenDigest, event: String },
    Revoked { id: String, event: String },
    RefusedCreation { digest: TokenDigest, event: String },
    RefusedRevocation { id: String, event: String },
}

/// Alternating creations and revocations, numbered so every row differs.
pub struct Workload {
    keyspace: Keyspace,
    live: Vec<String>,
    claims: Vec<Claim>,
    next: usize,
}

impl Workload {
    /// An organization, a keyspace and `tokens` tokens, written while the disk is fine.
    pub async fn start(store: &SqliteStore, tokens: usize) -> Workload {
        fixtures::found(store, ORG).await;
        let keyspace = fixtures::keyspace("payments", at(0));
        let event = fixtures::event(AuditAction::KeyspaceCreated, "keyspace", &keyspace.id, at(0));
        store.create_keyspace(&keyspace, &event).await.unwrap();
        let mut workload = Workload { keyspace, live: Vec::new(), claims: Vec::new(), next: 0 };
        for _ in 0..tokens {
            workload.create(store).await;
        }
        assert_eq!(workload.refused(), 0, "the disk is not full yet");
        workload
    }

    /// Runs `writes` writes, half creations and half revocations; answers how many were refused.
    pub async fn run(&mut self, store: &SqliteStore, writes: usize) -> usize {
        self.run_with(store, writes, || async {}).await
    }

    /// [`Workload::run`], calling `before_each` before every write (to
    /// re-arm a fault on a connection the store may have replaced).
    pub async fn run_with<F, Fut>(&mut self, store: &SqliteStore, writes: usize, mut before_each: F) -> usize
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let before = self.refused();
        for _ in 0..writes {
            before_each().await;
            if self.next.is_multiple_of(2) || self.live.is_empty() {
                self.create(store).await;
            } else {
                self.revoke(store).await;
            }
        }
        self.refused() - before
    }

    pub fn acknowledged(&self) -> usize {
        self.claims.len() - self.refused()
    }

    pub fn refused(&self) -> usize {
        self.claims
            .iter()
            .filter(|claim| matches!(claim, Claim::RefusedCreation { .. } | Claim::RefusedRevocation { .. }))
            .count()
    }

    async fn create(&mut self, store: &SqliteStore) {
        let n = self.next;
        self.next += 1;
        let (mut record, digest) = fixtures::token(&self.keyspace, &format!("token {n}"), "ops", at(n as i64));
        // Rows of a few KiB, so a handful of writes needs new pages.
        record.metadata = serde_json::json!({"padding": "p".repeat(3000)});
        let event = fixtures::created(&record);
        let claim = match store.create_token(&record, &digest, &event, None).await {
            Ok(()) => {
                self.live.push(record.id.clone());
                Claim::Created { id: record.id, digest, event: event.id }
            }
            Err(error) => {
                assert_fault(&error);
                Claim::RefusedCreation { digest, event: event.id }
            }
        };
        self.claims.push(claim);
    }

    async fn revoke(&mut self, store: &SqliteStore) {
        let n = self.next;
        self.next += 1;
        let id = self.live.remove(0);
        let mut event: AuditEvent = fixtures::event(AuditAction::TokenRevoked, "token", &id, at(n as i64));
        event.details = serde_json::json!({"padding": "r".repeat(3000)});
        let claim = match store.revoke_token(ORG, &id, at(n as i64), RevokedReason::Leaked, &event).await {
            Ok(Some(revocation)) => {
                assert!(revocation.newly_revoked, "{id} was revoked already: a refused revocation took effect");
                Claim::Revoked { id, event: event.id }
            }
            Ok(None) => panic!("token {id} vanished"),
            Err(error) => {
                assert_fault(&error);
                // Still live: a later revocation may take it.
                self.live.push(id.clone());
                Claim::RefusedRevocation { id, event: event.id }
            }
        };
        self.claims.push(claim);
    }

    /// Opens the file afresh, as a restarted process would, and checks every claim.
    pub async fn check_after_restart(&self, path: &Path) {
        let fresh = SqliteStore::open(path).await.unwrap();
        let audit: HashSet<String> = fresh
            .list_audit(ORG, &AuditFilter::default(), &PageRequest::new(Some(1000), None))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|event| event.id)
            .collect();
        let revoked: HashSet<&str> = self
            .claims
            .iter()
            .filter_map(|claim| match claim {
                Claim::Revoked { id, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        for claim in &self.claims {
            match claim {
                Claim::Created { id, digest, event } => {
                    let found = fresh.find_token_by_digest(digest).await.unwrap();
                    assert_eq!(found.map(|t| t.id), Some(id.clone()), "an acknowledged creation was lost");
                    assert!(audit.contains(event), "the audit event of creating {id} was lost");
                }
                Claim::Revoked { id, event } => {
                    let token = fresh.get_token(ORG, id).await.unwrap().unwrap();
                    assert!(token.is_revoked(), "an acknowledged revocation of {id} was lost");
                    assert!(audit.contains(event), "the audit event of revoking {id} was lost");
                }
                Claim::RefusedCreation { digest, event } => {
                    assert!(fresh.find_token_by_digest(digest).await.unwrap().is_none(), "a refused creation exists");
                    assert!(!audit.contains(event), "a refused creation left its audit event");
                }
                Claim::RefusedRevocation { id, event } => {
                    let token = fresh.get_token(ORG, id).await.unwrap().unwrap();
                    assert_eq!(
                        token.is_revoked(),
                        revoked.contains(id.as_str()),
                        "a refused revocation of {id} took effect"
                    );
                    assert!(!audit.contains(event), "a refused revocation left its audit event");
                }
            }
        }
    }
}

fn assert_fault(error: &StoreError) {
    assert!(matches!(error, StoreError::Backend(_)), "a write fault is a backend failure, not {error:?}");
}
