//! Revocation propagation across two `keyward serve` processes on one
//! PostgreSQL, and verification throughput while invalidations stream in.
//!
//! Run: `cargo bench -p keyward --bench propagation` (PostgreSQL at
//! `KEYWARD_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! `KEYWARD_BENCH_REVOCATIONS` (default 1000) and `KEYWARD_BENCH_SECONDS`
//! (default 3, per throughput phase; three pairs of phases) size it.
//!
//! Propagation: a token is created through instance A and verified through
//! B (so B has it cached). Then the revoke call goes to A while a poller
//! hammers B with verifications of that token; the figure is the time from
//! sending the revoke to B's first `REVOKED`. It includes the revoke call
//! itself (commit, NOTIFY, delivery, eviction) and is bounded below by one
//! verification round trip, the poller's resolution. Also counted: how often
//! B already rejected the token at the first check after the revoke call
//! returned ("before the revoke call returns").
//!
//! Throughput: several clients verify a fixed set of cached tokens through
//! B while A renames other tokens as fast as it can, each rename a committed
//! change that B must hear about and evict. The control phase does the same
//! work on A with renames to the name a token already has: the same UPDATE,
//! audit event and commit, but the change-feed trigger sees no change and
//! announces nothing. So the two phases differ only in the invalidations,
//! not in the load on A, PostgreSQL or the two shared cores. Same run, same
//! processes; the ratio is the figure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/cluster.rs"]
mod cluster;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::{Client, Instance};
use serde_json::json;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn micros(duration: Duration) -> String {
    format!("{:.0} µs", duration.as_secs_f64() * 1e6)
}

/// Verifications per second through `instance` over `tokens` by `clients`
/// concurrent loops, for `seconds`.
async fn verify_rate(
    client: &Arc<Client>,
    instance: &Arc<Instance>,
    tokens: &Arc<Vec<String>>,
    clients: usize,
    seconds: u64,
) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut loops = Vec::new();
    for worker in 0..clients {
        let (client, instance, tokens, stop, done) =
            (client.clone(), instance.clone(), tokens.clone(), stop.clone(), done.clone());
        loops.push(tokio::spawn(async move {
            let mut next = worker;
            while !stop.load(Ordering::Relaxed) {
                let code = client.verify(&instance, &tokens[next % tokens.len()]).await;
                assert_eq!(code, "VALID");
                done.fetch_add(1, Ordering::Relaxed);
                next += clients;
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for handle in loops {
        handle.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

/// (verifications/s on `b`, changes/s on `a`) while `a` renames the
/// `churned` tokens round-robin: to new names when `invalidate`, else to the
/// names they have (identical work, but nothing for the change feed).
#[allow(clippy::too_many_arguments)]
async fn churning(
    client: &Arc<Client>,
    a: &Arc<Instance>,
    b: &Arc<Instance>,
    verified: &Arc<Vec<String>>,
    churned: &Arc<Vec<String>>,
    clients: usize,
    seconds: u64,
    invalidate: bool,
) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let changes = Arc::new(AtomicU64::new(0));
    let churn = {
        let (client, a, churned, stop, changes) =
            (client.clone(), a.clone(), churned.clone(), stop.clone(), changes.clone());
        tokio::spawn(async move {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let index = (round % churned.len() as u64) as usize;
                let name = if invalidate { format!("churn {index} round {round}") } else { format!("churn {index}") };
                client.patch(&a, &format!("/v1/tokens/{}", churned[index]), json!({"name": name})).await;
                changes.fetch_add(1, Ordering::Relaxed);
                round += 1;
            }
        })
    };
    let started = Instant::now();
    let rate = verify_rate(client, b, verified, clients, seconds).await;
    stop.store(true, Ordering::Relaxed);
    churn.await.unwrap();
    (rate, changes.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

fn main() {
    let revocations = env_number("KEYWARD_BENCH_REVOCATIONS", 1000) as usize;
    let phase_seconds = env_number("KEYWARD_BENCH_SECONDS", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Some(schema) = runtime.block_on(keyward_store_postgres::testing::isolated_schema()) else {
        eprintln!("PostgreSQL is needed for this benchmark; nothing measured.");
        return;
    };
    let url = schema.url_with_schema();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin");
    let a = Arc::new(Instance::start(&url, Some(&token_file)));
    let b = Arc::new(Instance::start(&url, None));
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    let client = Arc::new(Client { http: reqwest::Client::new(), admin });

    runtime.block_on(async {
        let keyspace = client.post(&a, "/v1/keyspaces", json!({"name": "bench", "environment": "live"})).await;
        let keyspace = keyspace["id"].as_str().unwrap().to_owned();
        warm_up(&client, &a, &b, &keyspace).await;
        propagation(&client, &a, &b, &keyspace, revocations).await;
        throughput(&client, &a, &b, &keyspace, phase_seconds).await;
    });
    drop(a);
    drop(b);
    runtime.block_on(schema.drop_schema()).unwrap();
}

/// Connections, caches and the change-feed listener, before anything is timed.
async fn warm_up(client: &Arc<Client>, a: &Arc<Instance>, b: &Arc<Instance>, keyspace: &str) {
    b.logged("token change feed listening", 1).await;
    for n in 0..20 {
        let (token, id) = client.create(a, keyspace, &format!("warm {n}")).await;
        client.verify(b, &token).await;
        client.post(a, &format!("/v1/tokens/{id}/revoke"), json!({})).await;
        client.until_rejected(b, &token).await;
    }
}

/// One revocation through `a` of a token `b` has cached: (time to `b`'s
/// first REVOKED, time of the revoke call, whether `b` rejected it in a
/// check begun before the call returned).
async fn revoke_once(
    client: &Arc<Client>,
    a: &Arc<Instance>,
    b: &Arc<Instance>,
    keyspace: &str,
    n: usize,
) -> (Duration, Duration, bool) {
    let (token, id) = client.create(a, keyspace, &format!("revoked {n}")).await;
    assert_eq!(client.verify(b, &token).await, "VALID");
    let returned = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let poller = {
        let (client, b, token, returned) = (client.clone(), b.clone(), token.clone(), returned.clone());
        tokio::spawn(async move {
            // (time of the first REVOKED, whether the call had returned before the check that saw it began)
            loop {
                let call_had_returned = returned.load(Ordering::Acquire);
                let code = client.verify(&b, &token).await;
                if code != "VALID" {
                    assert_eq!(code, "REVOKED");
                    return (started.elapsed(), call_had_returned);
                }
                assert!(started.elapsed() < cluster::GIVE_UP_AFTER, "revocation never propagated");
            }
        })
    };
    client.post(a, &format!("/v1/tokens/{id}/revoke"), json!({})).await;
    let revoke_call = started.elapsed();
    returned.store(true, Ordering::Release);
    let (seen_after, call_had_returned) = poller.await.unwrap();
    // Seen by a check begun before the call returned: it was on B
    // before the revoking client heard back.
    (seen_after, revoke_call, !call_had_returned)
}

/// Measures and prints how fast revocations through `a` reach `b`.
async fn propagation(client: &Arc<Client>, a: &Arc<Instance>, b: &Arc<Instance>, keyspace: &str, revocations: usize) {
    let mut propagation = Vec::with_capacity(revocations);
    let mut revoke_calls = Vec::with_capacity(revocations);
    let mut before_return = 0;
    for n in 0..revocations {
        let (seen_after, revoke_call, seen_before_return) = revoke_once(client, a, b, keyspace, n).await;
        propagation.push(seen_after);
        revoke_calls.push(revoke_call);
        if seen_before_return {
            before_return += 1;
        }
    }
    propagation.sort();
    revoke_calls.sort();
    println!(
        "revocation propagation, A → B, {revocations} revocations (from sending the revoke to B's first REVOKED):"
    );
    println!(
        "  median {}   p90 {}   p99 {}   max {}",
        micros(percentile(&propagation, 0.5)),
        micros(percentile(&propagation, 0.9)),
        micros(percentile(&propagation, 0.99)),
        micros(propagation[propagation.len() - 1])
    );
    println!(
        "  revoke call on A: median {}   p99 {}",
        micros(percentile(&revoke_calls, 0.5)),
        micros(percentile(&revoke_calls, 0.99))
    );
    println!(
        "  seen on B by a check begun before the revoke call returned: {before_return} of {revocations} ({:.1} %)",
        100.0 * before_return as f64 / revocations as f64
    );
}

/// Measures and prints verification throughput on `b` with and without
/// invalidations streaming in from `a`.
async fn throughput(client: &Arc<Client>, a: &Arc<Instance>, b: &Arc<Instance>, keyspace: &str, phase_seconds: u64) {
    let mut verified = Vec::new();
    for n in 0..200 {
        verified.push(client.create(a, keyspace, &format!("hot {n}")).await.0);
    }
    let mut churned = Vec::new();
    for n in 0..100 {
        churned.push(client.create(a, keyspace, &format!("churn {n}")).await.1);
    }
    let verified = Arc::new(verified);
    for token in verified.iter() {
        client.verify(b, token).await;
    }
    let clients = 4;
    let churned = Arc::new(churned);
    // Alternated, so drift over the run (the VM's neighbours, caches
    // warming) weighs on both kinds of phase alike.
    let pairs = 3;
    println!(
        "verification throughput on B, {clients} HTTP clients over 200 cached tokens, {phase_seconds} s per phase,"
    );
    println!("while A changes other tokens as fast as it can (control: same-name renames, no invalidation):");
    let (mut quiet_total, mut streaming_total) = (0.0, 0.0);
    for pair in 1..=pairs {
        let quiet = churning(client, a, b, &verified, &churned, clients, phase_seconds, false).await;
        let streaming = churning(client, a, b, &verified, &churned, clients, phase_seconds, true).await;
        // Back to the names the control phase renames to.
        for (index, id) in churned.iter().enumerate() {
            client.patch(a, &format!("/v1/tokens/{id}"), json!({"name": format!("churn {index}")})).await;
        }
        println!(
            "  pair {pair}: control {:>7.0}/s ({:.0} changes/s on A)   renames {:>7.0}/s ({:.0} invalidations/s)   ratio {:.2}",
            quiet.0,
            quiet.1,
            streaming.0,
            streaming.1,
            streaming.0 / quiet.0
        );
        quiet_total += quiet.0;
        streaming_total += streaming.0;
    }
    println!("  overall ratio renames / control: {:.2}", streaming_total / quiet_total);
}
