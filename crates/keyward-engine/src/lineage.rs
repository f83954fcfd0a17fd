//! What a management token may plant, and how to pull it all out again.
//!
//! A management token minted by another token is bounded by it: it expires
//! no later than its parent and is usable only from networks its parent is
//! usable from (its scopes were already within the parent's). A request
//! that names a wider bound is refused with the bound named; a request that
//! leaves expiry or networks open inherits the parent's, and says so. So a
//! leaked short-lived CI token cannot become a permanent backdoor, and
//! revoking it "with descendants" takes every management token made under
//! it, transitively, in one transaction.
//!
//! Minting a management credential from a signed-in session needs the
//! password typed within the last [`SUDO_WINDOW`] (sign-in counts), like
//! GitHub's sudo mode: a session cookie lifted from a browser cannot mint
//! a bearer token that outlives the session.

use std::time::Duration;

use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditEntry, SudoFailure, True};
use keyward_core::id::TokenId;
use keyward_core::ip::{self, IpNet};
use keyward_core::model::{RevokedReason, TokenRecord};
use keyward_core::validate::InvalidField;

use crate::actor::{Actor, Principal};
use crate::engine::Engine;
use crate::EngineError;

/// How long after typing their password a signed-in user may mint
/// management credentials.
pub const SUDO_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The request fields a child took from its parent because the request
/// left them open.
pub const INHERITED_EXPIRY: &str = "expires_at";
/// See [`INHERITED_EXPIRY`].
pub const INHERITED_NETWORKS: &str = "allowed_ips";

/// A management token and the management tokens made under it, revoked.
#[derive(Debug, Clone)]
pub struct LineageRevoked {
    /// The token named, as it is now.
    pub token: TokenRecord,
    /// Its descendants revoked by this call.
    pub descendants: Vec<TokenRecord>,
}

/// Where an expiry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExpirySource {
    /// The request named it; it must lie within the bound.
    Requested,
    /// A default (the policy's, the keyspace's, the replaced token's
    /// lifetime, or none): the bound caps it.
    Defaulted,
}

/// A management token's expiry and networks once bounded by the token
/// minting it, the fields it took from that token
/// ([`crate::INHERITED_EXPIRY`], [`crate::INHERITED_NETWORKS`]), and the
/// expiry ceiling it carries from then on.
#[derive(Debug, Default)]
pub(crate) struct Bounded {
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) allowed_ips: Vec<IpNet>,
    pub(crate) inherited: Vec<&'static str>,
    pub(crate) ceiling: Option<DateTime<Utc>>,
}

/// The bound on a management token: the latest it may expire and the
/// networks it may be used from.
pub(crate) struct ParentBound<'a> {
    expiry_limit: Option<DateTime<Utc>>,
    /// Names the expiry limit in a refusal.
    limit_is: &'static str,
    networks: &'a [IpNet],
}

/// The earlier of two optional instants, where `None` is "never".
pub(crate) fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<'a> ParentBound<'a> {
    /// The bound on management tokens `actor` mints: `None` unless a
    /// management token acts (a person or Keyward itself is bounded by
    /// other means).
    pub(crate) fn of(actor: &'a Actor) -> Option<Self> {
        actor.minting_token().map(Self::by)
    }

    /// The bound `parent` puts on what it makes: its expiry (or ceiling,
    /// if earlier) and its networks.
    pub(crate) fn by(parent: &'a TokenRecord) -> Self {
        Self {
            expiry_limit: earliest(parent.expires_at, parent.expiry_ceiling),
            limit_is: "the creating token's expiry",
            networks: &parent.allowed_ips,
        }
    }

    /// The bound in words ("expires at …", "may be used only from some
    /// networks"), `None` when it binds nothing.
    pub(crate) fn described(&self) -> Option<String> {
        match self.expiry_limit {
            Some(at) => Some(format!("expires at {}", at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))),
            None if !self.networks.is_empty() => Some("may be used only from some networks".to_owned()),
            None => None,
        }
    }

    /// The bound on the successor of management token `old` rotated by
    /// `actor`: the acting token's bound (when a token acts) tightened by
    /// the ceiling `old` carries, so no rotation, by anyone or by the
    /// scheduler, outlives what bounded the lineage. `None` when nothing
    /// bounds it.
    pub(crate) fn of_successor(actor: &'a Actor, old: &TokenRecord) -> Option<Self> {
        let acting = Self::of(actor).filter(|_| old.management);
        match (acting, old.expiry_ceiling.filter(|_| old.management)) {
            (Some(bound), Some(ceiling)) if bound.expiry_limit.is_none_or(|limit| ceiling < limit) => {
                Some(Self { expiry_limit: Some(ceiling), limit_is: "the token's expiry ceiling", ..bound })
            }
            (Some(bound), _) => Some(bound),
            (None, Some(ceiling)) => {
                Some(Self { expiry_limit: Some(ceiling), limit_is: "the token's expiry ceiling", networks: &[] })
            }
            (None, None) => None,
        }
    }

    /// A management token's expiry and networks bounded by this parent,
    /// with the fields it took from it.
    pub(crate) fn bound(
        &self,
        expires_at: Option<DateTime<Utc>>,
        source: ExpirySource,
        allowed_ips: Vec<IpNet>,
    ) -> Result<Bounded, EngineError> {
        let (expires_at, took_expiry) = self.expiry(expires_at, source)?;
        let (allowed_ips, took_networks) = self.networks(allowed_ips, true)?;
        let inherited = [took_expiry.then_some(INHERITED_EXPIRY), took_networks.then_some(INHERITED_NETWORKS)];
        Ok(Bounded {
            expires_at,
            allowed_ips,
            inherited: inherited.into_iter().flatten().collect(),
            ceiling: self.expiry_limit,
        })
    }

    /// The expiry ceiling a token bounded by this carries.
    pub(crate) fn ceiling(&self) -> Option<DateTime<Utc>> {
        self.expiry_limit
    }

    /// Whether this bounds anything at all (an expiry or networks).
    pub(crate) fn binds(&self) -> bool {
        self.expiry_limit.is_some() || !self.networks.is_empty()
    }

    /// Whether a management token carrying `ceiling` (and the networks
    /// `networks`) already ends and stays where this bound would put it.
    pub(crate) fn holds(&self, ceiling: Option<DateTime<Utc>>, networks: &[IpNet]) -> bool {
        let expiry_within = match (self.expiry_limit, ceiling) {
            (None, _) => true,
            (Some(limit), Some(ceiling)) => ceiling <= limit,
            (Some(_), None) => false,
        };
        expiry_within && (self.networks.is_empty() || (!networks.is_empty() && ip::within(networks, self.networks)))
    }

    /// `expires_at` within the bound's expiry; the second value says
    /// whether the bound's expiry was taken.
    pub(crate) fn expiry(
        &self,
        expires_at: Option<DateTime<Utc>>,
        source: ExpirySource,
    ) -> Result<(Option<DateTime<Utc>>, bool), EngineError> {
        let Some(limit) = self.expiry_limit else {
            return Ok((expires_at, false));
        };
        match (expires_at, source) {
            (Some(at), _) if at <= limit => Ok((Some(at), false)),
            (Some(at), ExpirySource::Requested) => Err(EngineError::ExceedsParentBounds {
                field: "expires_at",
                detail: format!(
                    "expires_at {} must not be later than {} {}; ask for an earlier one or leave it out to \
                     inherit it.",
                    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    self.limit_is,
                    limit.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                ),
            }),
            (_, _) => Ok((Some(limit), true)),
        }
    }

    /// `requested` networks within the bound's; an empty request takes
    /// them (when `inherit`; else it means "anywhere" and is refused under
    /// a restricted bound). The second value says whether they were taken.
    pub(crate) fn networks(&self, requested: Vec<IpNet>, inherit: bool) -> Result<(Vec<IpNet>, bool), EngineError> {
        let parent = self.networks;
        if parent.is_empty() {
            return Ok((requested, false));
        }
        if requested.is_empty() && inherit {
            return Ok((parent.to_vec(), true));
        }
        if ip::within(&requested, parent) {
            return Ok((requested, false));
        }
        let allowed = parent.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let detail = match ip::outside(&requested, parent) {
            Some(network) => format!(
                "allowed_ips entry {network} is outside the creating token's allowed networks ({allowed}); \
                 every network must lie within one of them."
            ),
            None => format!(
                "an empty allowed_ips list means anywhere, but the token making this change may be used only \
                 from {allowed}; name networks within those."
            ),
        };
        Err(EngineError::ExceedsParentBounds { field: "allowed_ips", detail })
    }
}

impl Engine {
    /// Fails unless a signed-in actor typed their password within
    /// [`SUDO_WINDOW`]; tokens and Keyward itself pass.
    pub(crate) fn require_recent_password(&self, actor: &Actor) -> Result<(), EngineError> {
        let Some(user) = actor.principal.signed_in() else {
            return Ok(());
        };
        let window = chrono::Duration::from_std(SUDO_WINDOW).unwrap_or(chrono::Duration::minutes(10));
        if self.ctx.now() < user.password_confirmed_at + window {
            Ok(())
        } else {
            Err(EngineError::SudoRequired { window_seconds: SUDO_WINDOW.as_secs() })
        }
    }

    /// Checks the signed-in actor's password again and, when it matches,
    /// opens the [`SUDO_WINDOW`] for their session: the returned actor is
    /// the same session with the window open. Both outcomes are audited
    /// (`session.sudo_granted`, `session.sudo_failed`); failures count
    /// toward the same throttle as sign-ins.
    pub async fn confirm_password(&self, actor: &Actor, password: &str) -> Result<Actor, EngineError> {
        let Some(user) = actor.principal.signed_in() else {
            return Err(InvalidField::new("password", "only a signed-in session confirms a password").into());
        };
        let now_micros = self.ctx.clock.now_micros();
        let source_ip = actor.context.source_ip;
        if let Err(retry_after_seconds) = self.throttle.check(&user.email, source_ip, now_micros) {
            return Err(EngineError::Throttled { retry_after_seconds });
        }
        let stored = self.ctx.store.get_user(&user.user_id).await?;
        if !self.password_matches(stored.as_ref().map(|u| u.password_hash.as_str()), password).await? {
            self.throttle.record_failure(&user.email, source_ip, now_micros);
            let failed = AuditEntry::SessionSudoFailed { reason: SudoFailure::WrongPassword };
            let event = self.ctx.event(actor, failed, "session", &user.session_id)?;
            self.ctx.store.append_audit_event(&event).await?;
            return Err(EngineError::InvalidCredentials);
        }
        self.throttle.record_success(&user.email, source_ip, now_micros);
        let now = self.ctx.now();
        let granted = AuditEntry::SessionSudoGranted {
            window_seconds: SUDO_WINDOW.as_secs(),
            until: now + chrono::Duration::from_std(SUDO_WINDOW).unwrap_or_default(),
        };
        let event = self.ctx.event(actor, granted, "session", &user.session_id)?;
        if !self.ctx.store.confirm_session_password(actor.org_id(), &user.session_id, now, &event).await? {
            // Signed out meanwhile.
            return Err(EngineError::NotFound("session"));
        }
        let mut confirmed = user.clone();
        confirmed.password_confirmed_at = now;
        Ok(Actor { principal: Principal::user(confirmed), context: actor.context.clone() })
    }

    /// Revokes management token `id` and every management token made under
    /// it, transitively (whatever their state: a token revoked earlier
    /// still passes its descendants on), in one transaction, each with its
    /// own `token.revoked` event. Customer tokens they made stay unless
    /// `customer_tokens`: a pipeline's deploy keys need not die with the
    /// pipeline's token. Every revoked token stops verifying at once.
    pub async fn revoke_token_with_descendants(
        &self,
        actor: &Actor,
        id: &TokenId,
        reason: RevokedReason,
        customer_tokens: bool,
    ) -> Result<LineageRevoked, EngineError> {
        crate::prechecks::revocation(actor, reason)?;
        let token = self.ctx.store.get_token(actor.org_id(), id).await?.ok_or(EngineError::NotFound("token"))?;
        actor.require_manages_tokens_of(&token.owner)?;
        if !token.management {
            return Err(InvalidField::new(
                "with_descendants",
                "only management tokens have descendants (customer tokens mint nothing); revoke it without",
            )
            .into());
        }
        let root = AuditEntry::TokenRevokedWithDescendants { reason, with_descendants: True, customer_tokens };
        let event = self.ctx.event(actor, root, "token", id)?;
        let each = |token: &TokenRecord| -> Result<keyward_core::model::AuditEvent, keyward_store::StoreError> {
            self.ctx
                .event(
                    actor,
                    AuditEntry::TokenRevokedWith {
                        reason,
                        revoked_with: id,
                        parent_token_id: token.parent_token_id.as_deref(),
                    },
                    "token",
                    &token.id,
                )
                .map_err(|error| keyward_store::StoreError::Backend(Box::new(error)))
        };
        let now = self.ctx.now();
        let revoked = self
            .ctx
            .store
            .revoke_with_descendants(actor.org_id(), id, now, reason, customer_tokens, &event, &each)
            .await?
            .ok_or(EngineError::NotFound("token"))?;
        self.ctx.cache.invalidate(&revoked.root.token.digest);
        for descendant in &revoked.descendants {
            self.ctx.cache.invalidate(&descendant.digest);
        }
        Ok(LineageRevoked {
            token: revoked.root.token.record,
            descendants: revoked.descendants.into_iter().map(|stored| stored.record).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::clock::micros_to_datetime;

    fn parent(expires_at: Option<i64>, networks: &[&str]) -> TokenRecord {
        let mut record = crate::actor::system_record();
        record.expires_at = expires_at.map(micros_to_datetime);
        record.allowed_ips = ip::parse_list(networks).unwrap_or_default();
        record
    }

    #[test]
    fn an_expiry_is_refused_past_the_parents_and_a_default_is_capped() {
        let record = parent(Some(1_000), &[]);
        let bound = ParentBound::by(&record);
        let early = Some(micros_to_datetime(999));
        let late = Some(micros_to_datetime(1_001));
        assert_eq!(bound.expiry(early, ExpirySource::Requested).ok(), Some((early, false)));
        assert_eq!(
            bound.expiry(Some(micros_to_datetime(1_000)), ExpirySource::Requested).ok(),
            Some((Some(micros_to_datetime(1_000)), false)),
            "exactly the parent's expiry is within"
        );
        assert!(matches!(
            bound.expiry(late, ExpirySource::Requested),
            Err(EngineError::ExceedsParentBounds { field: "expires_at", .. })
        ));
        assert_eq!(bound.expiry(late, ExpirySource::Defaulted).ok(), Some((Some(micros_to_datetime(1_000)), true)));
        assert_eq!(bound.expiry(None, ExpirySource::Defaulted).ok(), Some((Some(micros_to_datetime(1_000)), true)));
        let unbounded = parent(None, &[]);
        let free = ParentBound::by(&unbounded);
        assert_eq!(free.expiry(None, ExpirySource::Defaulted).ok(), Some((None, false)));
        assert_eq!(free.expiry(late, ExpirySource::Requested).ok(), Some((late, false)));
    }

    #[test]
    fn networks_are_inherited_or_must_lie_within_the_parents() {
        let record = parent(None, &["127.0.0.1/32", "10.0.0.0/8"]);
        let bound = ParentBound::by(&record);
        let list = |entries: &[&str]| ip::parse_list(entries).unwrap_or_default();
        assert_eq!(bound.networks(Vec::new(), true).ok(), Some((record.allowed_ips.clone(), true)));
        assert!(matches!(
            bound.networks(Vec::new(), false),
            Err(EngineError::ExceedsParentBounds { field: "allowed_ips", .. })
        ));
        assert_eq!(bound.networks(list(&["10.2.0.0/16"]), true).ok(), Some((list(&["10.2.0.0/16"]), false)));
        match bound.networks(list(&["10.2.0.0/16", "0.0.0.0/0"]), true) {
            Err(EngineError::ExceedsParentBounds { detail, .. }) => {
                assert!(detail.contains("0.0.0.0/0") && detail.contains("127.0.0.1/32"), "{detail}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let open = parent(None, &[]);
        let free = ParentBound::by(&open);
        assert_eq!(free.networks(Vec::new(), true).ok(), Some((Vec::new(), false)));
    }
}
