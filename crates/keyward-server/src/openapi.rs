//! The base of the OpenAPI document: metadata and the bearer scheme. The
//! paths are added from the handlers' own annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Keyward API", description = "Issue, verify, list and revoke API tokens. Errors are RFC 9457 problem+json with a stable `code`."),
    modifiers(&BearerScheme),
    tags(
        (name = "accounts", description = "Users, sessions, invitations, members and their roles, service accounts"),
        (name = "organizations", description = "Tenants: every keyspace, token and audit event belongs to one"),
        (name = "tokens", description = "Issue, inspect, update and revoke tokens"),
        (name = "policy", description = "The organization's rules for its tokens, and the tokens that break them"),
        (name = "keyspaces", description = "Groups of tokens for one API and environment"),
        (name = "verify", description = "Verify a presented token"),
        (name = "audit", description = "Who changed what"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A Keyward management token"))
                    .build(),
            ),
        );
        // Signed-in users send this cookie instead, plus `X-CSRF-Token` on changes.
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-keyward_session",
                "A signed-in user's session (POST /v1/sessions); changes also need the X-CSRF-Token header",
            ))),
        );
    }
}

pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
