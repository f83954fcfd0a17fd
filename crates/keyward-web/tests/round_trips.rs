//! Database round trips per request (issue 22's measure): a real server on
//! 127.0.0.1:0 over SQLite, its store wrapped so that every store call is
//! counted. A request's latency under load is mostly its round trips, so the
//! hot requests are held to a number here rather than to a benchmark.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keyward_core::{OsRng, SystemClock};
use keyward_engine::{Engine, EngineConfig};
use keyward_server::{router_with, serve, AppState};
use keyward_store::Store;
use keyward_store_conformance::counting::CountingStore;
use keyward_store_sqlite::SqliteStore;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{redirect, Client, Method, Response, StatusCode};
use serde_json::{json, Value};

struct Site {
    base: String,
    admin: String,
    store: Arc<CountingStore>,
    client: Client,
    _dir: tempfile::TempDir,
}

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    sqlite.migrate().await.unwrap();
    let store = Arc::new(CountingStore::new(Arc::new(sqlite)));
    let engine = Arc::new(Engine::new(store.clone(), Arc::new(SystemClock), Arc::new(OsRng), EngineConfig::default()));
    let admin = engine.bootstrap().await.unwrap().unwrap().secret.expose().to_owned();
    let app = router_with(AppState::new(engine), keyward_web::pages());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, app, std::future::pending()));
    let client = Client::builder().redirect(redirect::Policy::none()).build().unwrap();
    Site { base, admin, store, client, _dir: dir }
}

impl Site {
    async fn call(&self, method: Method, path: &str, bearer: &str, body: Value) -> Response {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn created(&self, path: &str, bearer: &str, body: Value) -> Value {
        let response = self.call(Method::POST, path, bearer, body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// The store calls `request` made, printed so a failing bound shows them.
    async fn calls_of<F: std::future::Future<Output = Response>>(&self, what: &str, request: F) -> Vec<&'static str> {
        self.store.take_calls();
        let response = request.await;
        assert!(response.status().is_success() || response.status().is_redirection(), "{what}: {}", response.status());
        let _ = response.bytes().await.unwrap();
        let calls = self.store.take_calls();
        println!("{what}: {} store calls: {calls:?}", calls.len());
        calls
    }
}

/// An admin of the operator organization, invited and accepted: their
/// management token (verify, tokens) and their session cookie.
struct Member {
    user_id: String,
    token: String,
    session: String,
}

async fn member(site: &Site) -> Member {
    let invitation =
        site.created("/v1/invitations", &site.admin, json!({"email": "ada@example.com", "role": "admin"})).await;
    let accepted = site
        .client
        .post(format!("{}/v1/invitations/accept", site.base))
        .json(&json!({"token": invitation["token"], "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::CREATED);
    let session = accepted
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|cookie| cookie.contains("session"))
        .unwrap();
    let user_id = accepted.json::<Value>().await.unwrap()["user_id"].as_str().unwrap().to_owned();
    let keyspaces: Value =
        site.call(Method::GET, "/v1/keyspaces", &site.admin, Value::Null).await.json().await.unwrap();
    let management =
        keyspaces["data"].as_array().unwrap().iter().find(|k| k["management"] == true).unwrap()["id"].clone();
    let token = site
        .created(
            "/v1/tokens",
            &site.admin,
            json!({"keyspace_id": management, "name": "ada's service", "owner": user_id,
                   "scopes": ["keyward:verify", "keyward:tokens:read", "keyward:tokens:write"]}),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    Member { user_id, token, session }
}

#[tokio::test]
async fn hot_requests_stay_within_their_round_trips() {
    let site = site().await;
    let member = member(&site).await;
    let keyspace = site
        .created("/v1/keyspaces", &site.admin, json!({"name": "payments", "environment": "live", "prefix": "pay"}))
        .await["id"]
        .clone();
    let customer =
        site.created("/v1/tokens", &site.admin, json!({"keyspace_id": keyspace, "name": "c", "scopes": []})).await;
    let verify = || {
        site.call(Method::POST, "/v1/verify", &member.token, json!({"token": customer["token"], "required_scopes": []}))
    };
    // The first verification fills the cache with both tokens and the caller's role.
    site.calls_of("first POST /v1/verify", verify()).await;
    let cached_verify = site.calls_of("cached POST /v1/verify", verify()).await;

    let issue = || {
        site.call(
            Method::POST,
            "/v1/tokens",
            &member.token,
            json!({"keyspace_id": keyspace, "name": "more", "scopes": []}),
        )
    };
    let issuance = site.calls_of("POST /v1/tokens", issue()).await;

    // Issuing for someone else still reads that they belong here.
    let for_member = site.call(
        Method::POST,
        "/v1/tokens",
        &site.admin,
        json!({"keyspace_id": keyspace, "name": "theirs", "owner": member.user_id, "scopes": []}),
    );
    let for_another = site.calls_of("POST /v1/tokens for another owner", for_member).await;
    assert!(for_another.contains(&"get_member"), "{for_another:?}");

    let page = async {
        site.client.get(format!("{}/tokens", site.base)).header(COOKIE, &member.session).send().await.unwrap()
    };
    let tokens_page = site.calls_of("GET /tokens", page).await;

    assert_eq!(cached_verify.len(), 0, "cached verify: {cached_verify:?}");
    assert!(issuance.len() <= 3, "POST /v1/tokens: {issuance:?}");
    // The session with its membership, the directory (keyspaces, owners,
    // policy), the tokens, and where they were last used.
    assert!(tokens_page.len() <= 4, "GET /tokens: {tokens_page:?}");
}
