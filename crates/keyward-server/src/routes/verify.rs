//! `/v1/verify`: the hot path.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

use keyward_core::scope::{self, management};
use keyward_engine::VerifyOptions;

use crate::dto::{VerifyRequest, VerifyResponse};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, Caller};
use crate::AppState;

/// Verify a token presented to your service. Always 200 with a verdict;
/// the detailed codes are for the trusted backend calling this. Needs
/// `keyward:verify`.
#[utoipa::path(post, path = "/v1/verify", tag = "verify", request_body = VerifyRequest,
    security(("bearer" = ["keyward:verify"])),
    responses((status = 200, body = VerifyResponse), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn verify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(mut body): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    actor.require(management::VERIFY)?;
    if body.required_scopes.len() > scope::MAX_SCOPES {
        return Err(ApiError::invalid_field("required_scopes", format!("At most {} scopes.", scope::MAX_SCOPES)));
    }
    for (index, required) in body.required_scopes.iter().enumerate() {
        scope::validate(required)
            .map_err(|error| ApiError::invalid_field(format!("required_scopes[{index}]"), error.to_string()))?;
    }
    let client_ip = body
        .client_ip
        .as_deref()
        .map(|text| {
            text.trim().parse::<IpAddr>().map_err(|_| {
                ApiError::invalid_field("client_ip", "Give the client's IPv4 or IPv6 address, without a port.")
            })
        })
        .transpose()?;
    let required_scopes = state.engine.require_scopes(std::mem::take(&mut body.required_scopes));
    // A verifier sees only its own organization's tokens.
    let options = VerifyOptions {
        required_scopes: &required_scopes,
        client_ip,
        keyspace_id: body.keyspace_id.as_deref(),
        org_id: Some(actor.org_id()),
        user_agent: body.user_agent.as_deref(),
        caller: Some(actor.principal.id()),
    };
    // Serialized straight from the cache entry: no copy of the record, and
    // the token's fields as the cache entry keeps them rendered.
    let json = state
        .engine
        .verify_with(&body.token, &options, |verdict| VerifyResponse::from(verdict).to_json(verdict.rendering()))
        .await?
        .map_err(|error| ApiError::internal(&error))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}
