//! Authenticating management API callers by bearer token: verification
//! through the verifier, then the role of the person owning the token,
//! cached with it.

use std::net::IpAddr;

use keyward_core::id::IdKind;
use keyward_core::{ParsedToken, TokenDigest};

use crate::actor::Principal;
use crate::cache::Slot;
use crate::engine::Engine;
use crate::verdict::VerifyOptions;
use crate::EngineError;

impl Engine {
    /// Authenticates a management API caller. Any failure (malformed,
    /// unknown, expired, revoked, or a token of another keyspace) is the same
    /// `None`, so nothing about foreign tokens can be learned from the API.
    pub async fn authenticate(
        &self,
        presented: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<Option<Principal>, EngineError> {
        self.authenticate_client(presented, client_ip, None).await
    }

    /// [`Engine::authenticate`], also naming the client's user agent, which
    /// is noted when the token is a rotated one in its grace period.
    pub async fn authenticate_client(
        &self,
        presented: &str,
        client_ip: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<Option<Principal>, EngineError> {
        let now = self.ctx.clock.now_micros();
        if ParsedToken::parse(presented).is_err() {
            self.note_unknown_bearer(client_ip, now);
            return Ok(None);
        }
        let digest = TokenDigest::of(presented);
        let options = VerifyOptions { client_ip, user_agent, ..VerifyOptions::default() };
        let admit = |slot: &Slot| {
            if !slot.management || !self.verifier.judge(&digest, slot, now, &options).is_valid() {
                return None;
            }
            Some(slot.record.clone())
        };
        let Some(found) = self.verifier.lookup(digest, now, admit).await? else {
            self.note_unknown_bearer(client_ip, now);
            return Ok(None);
        };
        let Some(token) = found else {
            return Ok(None);
        };
        // A person's token acts within their current role; a former
        // member's token (revoked on removal anyway) authenticates nothing.
        // The role is cached with the token (and dropped with it, or when
        // the membership changes), so a cached caller needs no database.
        if !keyward_core::id::looks_like(IdKind::User, &token.owner) {
            return Ok(Some(Principal::token(token, None)));
        }
        if self.ctx.cache.trusted() {
            if let Some(grant) = self.ctx.cache.grant(&digest) {
                return Ok(Some(Principal::token(token, Some(grant))));
            }
        }
        let epoch = self.ctx.cache.epoch();
        match self.owner_grant(&token).await? {
            Ok(Some(grant)) => {
                self.ctx.cache.insert_grant(digest, &token.org_id, &token.owner, grant, epoch);
                Ok(Some(Principal::token(token, Some(grant))))
            }
            Ok(None) => Ok(Some(Principal::token(token, None))),
            Err(()) => Ok(None),
        }
    }
}
