//! In-process verification throughput on one core, among 1,000,000 live
//! tokens held in the verification cache, against the floor in the same run:
//! checksum + SHA-256 + a std `HashMap` lookup.
//!
//! `cargo bench -p keyward-engine --bench verify` (set `KEYWARD_BENCH_TOKENS`
//! to use fewer tokens). Prints criterion's timings, then a summary with
//! verifications per second and the ratio to the floor.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use keyward_core::id::{new_id, IdKind};
use keyward_core::{token, Environment, OsRng, ParsedToken, SecureRng, SystemClock, TokenDigest, TokenPrefix};
use keyward_engine::{Actor, Engine, EngineConfig, NewKeyspace, RequestContext, RequiredScopes, VerifyOptions};
use keyward_store::Store;
use keyward_store_sqlite::SqliteStore;
use sqlx::QueryBuilder;
use tokio::runtime::Runtime;

struct Fixture {
    engine: Arc<Engine>,
    secrets: Vec<String>,
    restricted: Vec<String>,
    garbage: Vec<String>,
    _dir: tempfile::TempDir,
}

fn report(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("benchmark setup failed ({what}): {error}");
    std::process::exit(1)
}

/// Inserts `count` live tokens of `keyspace` straight into the store (one
/// in ten with an IP allowlist); their secrets, unrestricted and restricted.
async fn seed(
    pool: &sqlx::SqlitePool,
    keyspace: &keyward_core::model::Keyspace,
    count: usize,
) -> (Vec<String>, Vec<String>) {
    let started = Instant::now();
    let prefix = TokenPrefix::default();
    let mut secrets = Vec::with_capacity(count);
    let mut restricted = Vec::with_capacity(count / 10 + 1);
    let mut rows = Vec::with_capacity(count);
    for n in 0..count {
        let secret = token::generate(&prefix, Environment::Live, &OsRng).unwrap_or_else(|e| report("generate", e));
        let text = secret.expose().to_owned();
        let id = new_id(IdKind::Token, &OsRng).unwrap_or_else(|e| report("id", e));
        // One token in ten has an IP allowlist.
        let is_restricted = n % 10 == 9;
        rows.push((id, TokenDigest::of(&text), text[text.len() - 4..].to_owned(), is_restricted));
        if is_restricted {
            restricted.push(text);
        } else {
            secrets.push(text);
        }
    }
    let mut tx = pool.begin().await.unwrap_or_else(|e| report("begin", e));
    for chunk in rows.chunks(500) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO tokens (id, org_id, management, keyspace_id, digest, name, owner, scopes, metadata, environment, prefix, last4, created_at, created_by, allowed_ips) ",
        );
        insert.push_values(chunk, |mut row, (id, digest, last4, restricted)| {
            row.push_bind(id.as_str())
                .push_bind(keyspace.org_id.as_str())
                .push_bind(false)
                .push_bind(keyspace.id.as_str())
                .push_bind(&digest.as_bytes()[..])
                .push_bind("bench token")
                .push_bind("service_bench")
                .push_bind(r#"["invoices:read","invoices:write"]"#)
                .push_bind(r#"{"team":"bench"}"#)
                .push_bind("live")
                .push_bind("kw")
                .push_bind(last4.as_str())
                .push_bind(1_700_000_000_000_000_i64)
                .push_bind("bench")
                .push_bind(if *restricted { r#"["203.0.113.0/24","2001:db8::/32"]"# } else { "[]" });
        });
        insert.build().execute(&mut *tx).await.unwrap_or_else(|e| report("insert", e));
    }
    tx.commit().await.unwrap_or_else(|e| report("commit", e));
    eprintln!("seeded {count} tokens in {:.1?}", started.elapsed());
    (secrets, restricted)
}

/// Warms the cache: every token verified once (the first verification of a
/// token reads the store; the benchmark measures the ones after).
async fn warm(engine: &Arc<Engine>, secrets: &[String], restricted: &[String]) {
    let count = secrets.len() + restricted.len();
    let started = Instant::now();
    let everything: Vec<String> = secrets.iter().chain(restricted).cloned().collect();
    let workers: Vec<_> = everything
        .chunks(count.div_ceil(4).max(1))
        .map(|chunk| {
            let engine = engine.clone();
            let chunk = chunk.to_vec();
            tokio::spawn(async move {
                let options = VerifyOptions { client_ip: Some([203, 0, 113, 9].into()), ..VerifyOptions::default() };
                for secret in chunk {
                    let valid = engine
                        .verify_with(&secret, &options, |v| v.is_valid())
                        .await
                        .unwrap_or_else(|e| report("warm", e));
                    assert!(valid);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap_or_else(|e| report("warm", e));
    }
    eprintln!("warmed {} cached tokens in {:.1?}", engine.cached_tokens(), started.elapsed());
    engine.flush_usage().await.unwrap_or_else(|e| report("flush", e));
}

async fn setup(count: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| report("tempdir", e));
    let store = SqliteStore::open(&dir.path().join("bench.db")).await.unwrap_or_else(|e| report("open", e));
    store.migrate().await.unwrap_or_else(|e| report("migrate", e));
    let pool = store.writer_pool().clone();
    let config = EngineConfig { cache_capacity: count + count / 10 + 16, ..EngineConfig::default() };
    let engine = Arc::new(Engine::new(Arc::new(store), Arc::new(SystemClock), Arc::new(OsRng), config));
    let admin = engine
        .bootstrap()
        .await
        .unwrap_or_else(|e| report("bootstrap", e))
        .unwrap_or_else(|| report("bootstrap", "exists"));
    let principal = engine
        .authenticate(admin.secret.expose(), None)
        .await
        .unwrap_or_else(|e| report("auth", e))
        .unwrap_or_else(|| report("auth", "refused"));
    let actor = Actor { principal, context: RequestContext::default() };
    let keyspace = engine
        .create_keyspace(
            &actor,
            NewKeyspace {
                name: "bench".into(),
                environment: Environment::Live,
                prefix: None,
                default_ttl_seconds: None,
                scope_catalog: None,
                rotation_period_days: None,
                disable_after_inactive_days: None,
            },
        )
        .await
        .unwrap_or_else(|e| report("keyspace", e));

    let (secrets, restricted) = seed(&pool, &keyspace, count).await;
    warm(&engine, &secrets, &restricted).await;

    let mut garbage = Vec::with_capacity(1024);
    for n in 0..1024 {
        let mut bytes = [0u8; 38];
        OsRng.fill(&mut bytes).unwrap_or_else(|e| report("rng", e));
        let body: String =
            bytes.iter().map(|b| char::from(keyward_core::base62::ALPHABET[usize::from(b % 62)])).collect();
        garbage.push(if n % 2 == 0 { format!("kw_live_{body}") } else { "Bearer not-a-token-at-all".into() });
    }
    Fixture { engine, secrets, restricted, garbage, _dir: dir }
}

/// A cheap, well-spread index sequence so lookups hit random cache lines.
fn spread(i: u64, len: usize) -> usize {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    (x % len as u64) as usize
}

type Run = Box<dyn Fn(u64) -> Duration>;

/// `verify`: the owned result, which clones the record's `Arc`.
fn owned(
    runtime: &'static Runtime,
    engine: &'static Engine,
    tokens: &'static [String],
    required: &'static [String],
) -> Run {
    Box::new(move |iters: u64| {
        runtime.block_on(async {
            let start = Instant::now();
            for i in 0..iters {
                let secret = &tokens[(i as usize) % tokens.len()];
                black_box(engine.verify(black_box(secret), required).await.map(|v| v.is_valid()).unwrap_or(false));
            }
            start.elapsed()
        })
    })
}

/// `verify_with`: what an embedding service does when it only needs the
/// verdict, reading the cache entry in place.
fn in_place(
    runtime: &'static Runtime,
    engine: &'static Engine,
    tokens: &'static [String],
    options: VerifyOptions<'static>,
) -> Run {
    Box::new(move |iters: u64| {
        runtime.block_on(async {
            let start = Instant::now();
            for i in 0..iters {
                let secret = &tokens[(i as usize) % tokens.len()];
                black_box(
                    engine
                        .verify_with(black_box(secret), &options, |verdict| verdict.is_valid())
                        .await
                        .unwrap_or(false),
                );
            }
            start.elapsed()
        })
    })
}

/// The floor: checksum, SHA-256 and a std `HashMap` lookup per token.
fn floor(secrets: &[String], stream: &'static [String]) -> Run {
    let floor_map: HashMap<TokenDigest, usize> =
        secrets.iter().enumerate().map(|(i, s)| (TokenDigest::of(s), i)).collect();
    Box::new(move |iters: u64| {
        let start = Instant::now();
        for i in 0..iters {
            let secret = black_box(&stream[(i as usize) % stream.len()]);
            let ok = ParsedToken::parse(secret).is_ok() && floor_map.contains_key(&TokenDigest::of(secret));
            black_box(ok);
        }
        start.elapsed()
    })
}

/// One pass over `tokens` in random order, laid out contiguously as
/// presented tokens arrive in fresh request buffers; it lives for the run.
fn shuffled(tokens: &[String]) -> &'static [String] {
    let stream: Vec<String> = (0..tokens.len() as u64).map(|i| tokens[spread(i, tokens.len())].clone()).collect();
    stream.leak()
}

fn main() {
    let count: usize = std::env::var("KEYWARD_BENCH_TOKENS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let setup_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| report("runtime", e));
    let fixture: &'static Fixture = Box::leak(Box::new(setup_runtime.block_on(setup(count))));
    // Measurement runs on one thread: the figure is per core.
    let runtime: &'static Runtime = Box::leak(Box::new(
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| report("runtime", e)),
    ));
    let engine: &'static Engine = &fixture.engine;
    let stream = shuffled(&fixture.secrets);
    let restricted_stream = shuffled(&fixture.restricted);
    let required: &'static [String] = vec!["invoices:read".to_owned()].leak();
    // As an embedding service does: the route's scopes prepared once.
    let prepared: &'static RequiredScopes = Box::leak(Box::new(engine.require_scopes(required.to_vec())));
    let verify_valid = owned(runtime, engine, stream, &[]);
    let verify_scoped = owned(runtime, engine, stream, required);
    let verdict_only = in_place(runtime, engine, stream, VerifyOptions::default());
    // The allowlist check's baseline: as many unrestricted tokens as there
    // are restricted ones, so both spread over the same amount of memory.
    let verdict_only_small = in_place(runtime, engine, &stream[..restricted_stream.len()], VerifyOptions::default());
    let scoped_options = VerifyOptions { required_scopes: prepared, ..VerifyOptions::default() };
    let scoped_in_place = in_place(runtime, engine, stream, scoped_options);
    // IP-restricted tokens presented from an allowed address: the allowlist
    // is read from the record.
    let from_allowed = VerifyOptions { client_ip: Some([203, 0, 113, 9].into()), ..VerifyOptions::default() };
    let ip_checked = in_place(runtime, engine, restricted_stream, from_allowed);
    let verify_garbage = owned(runtime, engine, fixture.garbage.as_slice(), &[]);
    let floor = floor(&fixture.secrets, stream);

    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    criterion.bench_function("verify_with/cached_valid_verdict_only", |b| b.iter_custom(&verdict_only));
    criterion.bench_function("verify/cached_valid", |b| b.iter_custom(&verify_valid));
    criterion.bench_function("verify/cached_valid_with_scope", |b| b.iter_custom(&verify_scoped));
    criterion.bench_function("verify/garbage", |b| b.iter_custom(&verify_garbage));
    criterion.bench_function("floor/checksum+sha256+hashmap", |b| b.iter_custom(&floor));
    criterion.final_summary();

    // Same-run comparison: fixed iteration counts, best of three.
    let rate = |run: &Run| {
        let iterations = 2_000_000u64;
        let best = (0..3).map(|_| run(iterations)).min().unwrap_or(Duration::MAX);
        iterations as f64 / best.as_secs_f64()
    };
    let rates = Rates {
        verdict: rate(&verdict_only),
        scoped_verdict: rate(&scoped_in_place),
        ip_verdict: rate(&ip_checked),
        verdict_small: rate(&verdict_only_small),
        valid: rate(&verify_valid),
        scoped: rate(&verify_scoped),
        garbage: rate(&verify_garbage),
        floor: rate(&floor),
    };
    rates.print(engine.cached_tokens(), restricted_stream.len());
}

/// The same-run rates, per second.
struct Rates {
    verdict: f64,
    scoped_verdict: f64,
    ip_verdict: f64,
    verdict_small: f64,
    valid: f64,
    scoped: f64,
    garbage: f64,
    floor: f64,
}

impl Rates {
    fn print(&self, cached: usize, restricted: usize) {
        println!("\nSUMMARY ({} tokens cached, one core)", cached);
        println!("  verify_with, self.verdict only       {:>12.0} /s", self.verdict);
        println!(
            "  verify_with, 1 required scope   {:>12.0} /s  ({:+.0}% vs self.verdict only)",
            self.scoped_verdict,
            (self.scoped_verdict / self.verdict - 1.0) * 100.0
        );
        println!("  verify_with, self.verdict only, {:>7} tokens {:>7.0} /s", restricted, self.verdict_small);
        println!(
            "  verify_with, IP allowlist check {:>12.0} /s  ({:+.0}% vs self.verdict only over as many tokens)",
            self.ip_verdict,
            (self.ip_verdict / self.verdict_small - 1.0) * 100.0
        );
        println!("  verify, owned record            {:>12.0} /s", self.valid);
        println!("  verify cached, 1 required scope {:>12.0} /s", self.scoped);
        println!("  verify self.garbage                  {:>12.0} /s", self.garbage);
        println!("  floor: checksum+SHA-256+HashMap {:>12.0} /s", self.floor);
        println!("  verify_with / floor             {:>12.2}", self.verdict / self.floor);
        println!("  verify / floor                  {:>12.2}", self.valid / self.floor);
        println!(
            "  target: verify_with >= 1,500,000 /s -> {}",
            if self.verdict >= 1_500_000.0 { "met" } else { "NOT met" }
        );
    }
}
