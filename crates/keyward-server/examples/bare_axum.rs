//! The baseline for `bench/http-verify.sh`: a bare axum endpoint that
//! answers `POST /v1/verify` with a fixed JSON body of the same shape as a
//! real verdict, on the same runtime settings and allocator as the server.

use axum::http::header;
use axum::routing::post;
use axum::Router;

const BODY: &str = r#"{"valid":true,"code":"VALID","token_id":"tok_0000000000000000000000","name":"bench","keyspace_id":"ks_0000000000000000000000","environment":"live","owner":"admin","scopes":["invoices:read"],"metadata":{}}"#;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18421".to_owned());
    let app =
        Router::new().route("/v1/verify", post(|| async { ([(header::CONTENT_TYPE, "application/json")], BODY) }));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("bare axum listening on http://{address}");
    axum::serve(listener, app).await
}
