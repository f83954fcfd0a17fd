//! Refused management calls are audited here, at the edge, for every route
//! at once: a 403 for the caller's scopes or role, and a 404 on an id that
//! belongs to another organization (a cross-tenant probe).
//!
//! The response says whether it refused (a [`Refused`] extension set by
//! [`crate::error::ApiError`] and by the screens' error page); who was
//! refused is noted by the authenticating extractors in a task-local slot
//! that the edge opens around each request, so authentication copies one
//! reference count and nothing else. The engine caps what is written per
//! caller and minute (`keyward_engine::EVENTS_PER_MINUTE`).

use std::cell::RefCell;
use std::net::IpAddr;

use axum::response::Response;
use keyward_engine::{Actor, Engine, Principal, Refusal, RefusedCall, RequestContext};

use crate::error::Refused;

/// Longest path id recorded as the target: ids are far shorter, and a
/// refused path is whatever the caller typed.
const MAX_TARGET_CHARS: usize = 64;

type Noted = Option<(Principal, Option<IpAddr>)>;

tokio::task_local! {
    static CALLER: RefCell<Noted>;
}

/// Notes who the request authenticated as, for the edge to audit a refusal.
/// Outside the edge (tests that build routes alone) it does nothing.
pub fn note_caller(actor: &Actor) {
    let _ = CALLER.try_with(|slot| *slot.borrow_mut() = Some((actor.principal.clone(), actor.context.source_ip)));
}

/// Runs `request` with a slot for [`note_caller`], and hands back whom it noted.
pub(crate) async fn watched(request: impl std::future::Future<Output = Response>) -> (Response, Noted) {
    let mut scoped = std::pin::pin!(CALLER.scope(RefCell::new(None), request));
    let response = scoped.as_mut().await;
    let noted = scoped.as_mut().take_value().and_then(RefCell::into_inner);
    (response, noted)
}

/// The id in `path` where `route` has a `{…}` segment (the last one, the
/// thing acted on), as given.
pub(crate) fn target_in(route: &str, path: &str) -> Option<String> {
    if !route.contains('{') {
        return None;
    }
    let segments = route.split('/').zip(path.split('/'));
    let id = segments.filter(|(pattern, _)| pattern.starts_with('{')).map(|(_, given)| given).last()?;
    let clean: String = id.chars().filter(|c| !c.is_control()).take(MAX_TARGET_CHARS).collect();
    (!clean.is_empty()).then_some(clean)
}

/// Audits a refusal (`not_found` for a 404) if an authenticated caller was
/// refused; `target` is [`target_in`] of the request.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit(
    engine: &Engine,
    refused: Refused,
    not_found: bool,
    noted: Noted,
    method: &str,
    route: &str,
    target: Option<String>,
    request_id: Option<&str>,
) {
    let Some((principal, source_ip)) = noted else {
        return;
    };
    let refusal = if not_found { Refusal::NotFound } else { Refusal::Denied { code: refused.code } };
    let context = RequestContext { request_id: request_id.map(str::to_owned), source_ip, ..RequestContext::default() };
    let actor = Actor { principal, context };
    let call = RefusedCall { refusal, method, route, target: target.as_deref() };
    engine.record_refusal(&actor, &call).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_last_id_of_the_route() {
        assert_eq!(target_in("/v1/tokens/{id}/revoke", "/v1/tokens/tok_abc/revoke").as_deref(), Some("tok_abc"));
        assert_eq!(target_in("/v1/members/{user_id}", "/v1/members/usr_1").as_deref(), Some("usr_1"));
        assert_eq!(
            target_in("/v1/webhooks/{id}/deliveries/{n}", "/v1/webhooks/whk_1/deliveries/7").as_deref(),
            Some("7")
        );
        assert_eq!(target_in("/v1/tokens", "/v1/tokens"), None);
        assert_eq!(target_in("/v1/tokens/{id}", &format!("/v1/tokens/{}", "x".repeat(500))).map(|t| t.len()), Some(64));
    }
}
