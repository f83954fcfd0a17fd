//! `/v1/sample`: a protected route to try a new token against.
//!
//! It stands in for the first endpoint of the user's own API. The token is
//! its own bearer credential, verified exactly as `/v1/verify` would verify
//! it, so a first verified call needs nothing but the token just created:
//! no second, verifier credential to find first. Because the caller holds
//! the token, it is told why a refused token was refused.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use keyward_core::model::{ExpiryCause, TokenRecord};
use keyward_core::scope;
use keyward_engine::{Verdict, VerifyCode, VerifyOptions};

use crate::dto::VerifyResponse;
use crate::error::{ApiError, Problem};
use crate::extract::{bearer_token, ApiQuery, Context};
use crate::AppState;

/// What the sample route demands besides a valid token.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SampleQuery {
    /// A scope the token must hold, to try a scope check
    /// (`?scope=invoices:read`).
    pub scope: Option<String>,
}

/// The answer to a valid token: a greeting and the verification verdict,
/// in the same fields `/v1/verify` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleResponse<'a> {
    /// A sentence for a person trying the token.
    pub message: String,
    #[serde(flatten)]
    pub verification: VerifyResponse<'a>,
}

/// A sample protected route. Present a token as `Authorization: Bearer …`:
/// a valid one gets 200 with what it may do; a refused one gets 401 (403
/// for a missing scope or address) with why. Counts as a verification of
/// the token, so it shows as the token's last use.
#[utoipa::path(get, path = "/v1/sample", tag = "verify", params(SampleQuery),
    security(("bearer" = [])),
    responses((status = 200, body = SampleResponse), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn sample(
    State(state): State<AppState>,
    Context(context): Context,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SampleQuery>,
) -> Result<Response, ApiError> {
    let Some(presented) = bearer_token(&headers)? else {
        return Err(ApiError::unauthorized(false));
    };
    let required = match query.scope.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(wanted) => {
            scope::validate(wanted).map_err(|error| ApiError::invalid_field("scope", error.to_string()))?;
            vec![wanted.to_owned()]
        }
    };
    let required_scopes = state.engine.require_scopes(required);
    let user_agent = headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok());
    let options = VerifyOptions {
        required_scopes: &required_scopes,
        client_ip: context.source_ip,
        keyspace_id: None,
        org_id: None,
        user_agent,
        // Nobody verifies here on anyone's behalf: no organization to report spraying to.
        caller: None,
    };
    let answer = state.engine.verify_with(presented, &options, answer).await?;
    let json = answer?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// The response body for a valid token, or the refusal for any other.
fn answer(verdict: Verdict<'_>) -> Result<Vec<u8>, ApiError> {
    if verdict.is_valid() {
        let verification = VerifyResponse::from(verdict);
        let message = match (verification.name, verification.in_rotation_grace) {
            (Some(name), Some(true)) => format!(
                "Token “{name}” is valid, but it was rotated: switch to its replacement before its grace period ends."
            ),
            (Some(name), _) => format!("Token “{name}” is valid. Your first verified call worked."),
            (None, _) => "The token is valid.".to_owned(),
        };
        return serde_json::to_vec(&SampleResponse { message, verification })
            .map_err(|error| ApiError::internal(&error));
    }
    let missing: Vec<String> = verdict.missing_scopes().into_iter().map(str::to_owned).collect();
    let detail = match verdict.code {
        VerifyCode::Malformed => {
            "That is not a whole Keyward token: check that it was copied completely, with its prefix.".to_owned()
        }
        VerifyCode::Expired => match verdict.token().map(TokenRecord::expiry_cause) {
            Some(ExpiryCause::RotationGraceEnded) => {
                "The token was rotated and its grace period is over: use the token that replaced it.".to_owned()
            }
            _ => "The token has expired: create or rotate one to continue.".to_owned(),
        },
        VerifyCode::Revoked => "The token was revoked: create a new one to continue.".to_owned(),
        VerifyCode::Disabled => "The token is disabled: an admin can enable it again from its page.".to_owned(),
        VerifyCode::InsufficientScope => {
            format!("The token lacks the scope(s) this call needs: {}.", missing.join(", "))
        }
        VerifyCode::ForbiddenIp => {
            "The token may not be used from this address: it is outside the token's IP allowlist.".to_owned()
        }
        VerifyCode::NotFound | VerifyCode::Valid => {
            "No such token here: it was deleted, or was issued by another Keyward.".to_owned()
        }
    };
    Err(ApiError::token_refused(verdict.code, detail, missing))
}
