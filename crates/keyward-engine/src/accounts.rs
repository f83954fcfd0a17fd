//! People: open sign-up, invitations, sign-in with throttling, sessions,
//! members and their roles, and service accounts.
//!
//! Passwords are hashed with Argon2id, under a bound on how many hashes run
//! at once, and failed sign-ins are throttled (both in `sign_in`). Session
//! and invitation secrets are random, shown once and stored only as
//! digests, like tokens.

use keyward_core::audit::{AuditEntry, OwnerGone, True};
use keyward_core::id::{self, new_id, IdKind, InvitationId, ServiceAccountId, UserId};
use keyward_core::model::{Invitation, Keyspace, Member, Organization, ServiceAccount, Session, TokenRecord, User};
use keyward_core::policy::TokenPolicy;
use keyward_core::role::Role;
use keyward_core::scope::management;
use keyward_core::validate::{self, InvalidField};
use keyward_core::{base62, Environment, SecretToken, SecureRng, TokenDigest};
use keyward_store::{Acceptance, Founding, StoreError, StoredToken};

use crate::actor::{Actor, Principal, RequestContext, RoleGrant, SignedIn};
use crate::lineage::ParentBound;
use crate::{Engine, EngineError};

const SESSION_PREFIX: &str = "kws_";
pub(crate) const INVITATION_PREFIX: &str = "kwi_";
/// Longest invitation lifetime, in seconds (30 days).
pub const MAX_INVITATION_SECONDS: i64 = 30 * 24 * 3600;
/// Invitation lifetime when none is given, in seconds (7 days).
pub const DEFAULT_INVITATION_SECONDS: i64 = 7 * 24 * 3600;

/// A session just started: its secret (for the cookie, shown once), the
/// CSRF token that must accompany its state-changing requests, and who it is.
#[derive(Debug)]
pub struct NewSession {
    /// The cookie value.
    pub secret: SecretToken,
    /// The anti-CSRF token derived from it.
    pub csrf_token: String,
    /// The signed-in user.
    pub signed_in: SignedIn,
}

/// An invitation just created, with its secret (shown once).
#[derive(Debug)]
pub struct CreatedInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// The secret to send to the invitee.
    pub secret: SecretToken,
}

/// The anti-CSRF token of a session: a digest of its secret, so a page can
/// be given it while the secret stays in an HttpOnly cookie, and a forged
/// cross-site request, which can send the cookie but not read it, cannot
/// produce it.
pub fn csrf_token(session_secret: &str) -> String {
    let digest = TokenDigest::of(&format!("keyward-csrf\0{session_secret}"));
    let mut half = [0u8; 16];
    half.copy_from_slice(&digest.as_bytes()[..16]);
    base62::encode_u128(u128::from_le_bytes(half))
}

/// Whether `presented` is the CSRF token of `session_secret` (constant time).
pub fn csrf_matches(session_secret: &str, presented: &str) -> bool {
    TokenDigest::of(&csrf_token(session_secret)).ct_eq(&TokenDigest::of(presented))
}

pub(crate) fn random_secret(prefix: &str, rng: &dyn SecureRng) -> Result<SecretToken, EngineError> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)?;
    let (high, low) = bytes.split_at(16);
    let mut text = String::with_capacity(prefix.len() + 44);
    text.push_str(prefix);
    for half in [high, low] {
        let mut word = [0u8; 16];
        word.copy_from_slice(half);
        text.push_str(&base62::encode_u128(u128::from_le_bytes(word)));
    }
    Ok(SecretToken::new(text))
}

fn looks_like_secret(prefix: &str, text: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 44 && rest.bytes().all(|b| base62::digit_value(b).is_some()))
}

impl Engine {
    async fn hash_password(&self, password: &str) -> Result<String, EngineError> {
        self.passwords.hash(self.ctx.rng.as_ref(), password).await
    }

    /// Verifies against `hash`, or against a decoy when there is no user.
    pub(crate) async fn password_matches(&self, hash: Option<&str>, password: &str) -> Result<bool, EngineError> {
        self.passwords.matches(hash, password).await
    }

    /// Whether `org` is the operator organization (which never changes once created).
    pub(crate) async fn is_operator_org(&self, org: &str) -> Result<bool, EngineError> {
        if let Some(operator) = self.operator_org.get() {
            return Ok(operator == org);
        }
        match self.ctx.store.operator_organization().await? {
            Some(operator) => {
                let _ = self.operator_org.set(operator.id.clone());
                Ok(operator.id == org)
            }
            None => Ok(false),
        }
    }

    /// The current role of the person owning a management token: `Ok(None)`
    /// when no person owns it, `Err(())` when its owner is a user who is no
    /// longer a member (the token then authenticates nothing).
    pub(crate) async fn owner_grant(&self, token: &TokenRecord) -> Result<Result<Option<RoleGrant>, ()>, EngineError> {
        if !id::looks_like(IdKind::User, &token.owner) {
            return Ok(Ok(None));
        }
        match self.ctx.store.get_member(&token.org_id, &token.owner).await? {
            Some(member) => {
                Ok(Ok(Some(RoleGrant { role: member.role, operator: self.is_operator_org(&token.org_id).await? })))
            }
            None => Ok(Err(())),
        }
    }

    /// Refuses owners that name a user or service account this
    /// organization does not have (other owners are the caller's own ids).
    pub(crate) async fn check_owner(&self, org: &str, owner: &str) -> Result<(), EngineError> {
        let known = if id::looks_like(IdKind::User, owner) {
            self.ctx.store.get_member(org, owner).await?.is_some()
        } else if id::looks_like(IdKind::ServiceAccount, owner) {
            self.ctx.store.get_service_account(org, owner).await?.is_some()
        } else {
            return Ok(());
        };
        if known {
            Ok(())
        } else {
            Err(InvalidField::new(
                "owner",
                format!("`{owner}` is not a member or service account of this organization"),
            )
            .into())
        }
    }

    async fn start_session(
        &self,
        user: &User,
        member: &Member,
        method: &str,
        context: &RequestContext,
    ) -> Result<NewSession, EngineError> {
        let now = self.ctx.now();
        let secret = random_secret(SESSION_PREFIX, self.ctx.rng.as_ref())?;
        let lifetime =
            chrono::Duration::from_std(self.ctx.config.session_lifetime).unwrap_or(chrono::Duration::hours(12));
        let session = Session {
            id: new_id(IdKind::Session, self.ctx.rng.as_ref())?,
            user_id: user.id.clone(),
            org_id: member.org_id.clone(),
            created_at: now,
            expires_at: now + lifetime,
            password_confirmed_at: now,
        };
        let event = self.session_started_event(&session, user, method, context)?;
        self.ctx.store.create_session(&session, &TokenDigest::of(secret.expose()), &event).await?;
        let grant = RoleGrant { role: member.role, operator: self.is_operator_org(&member.org_id).await? };
        Ok(NewSession {
            csrf_token: csrf_token(secret.expose()),
            secret,
            signed_in: SignedIn {
                session_id: session.id,
                user_id: user.id.clone(),
                email: user.email.clone(),
                org_id: member.org_id.clone(),
                grant,
                expires_at: session.expires_at,
                password_confirmed_at: session.password_confirmed_at,
            },
        })
    }

    /// Open sign-up, when the operator enabled it: a new user founding a
    /// new organization, which they own. Signs them in.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        organization_name: &str,
        context: &RequestContext,
    ) -> Result<NewSession, EngineError> {
        if !self.ctx.config.open_signup {
            return Err(EngineError::SignUpClosed);
        }
        let email = validate::email(email)?;
        validate::new_password(password)?;
        let name = validate::name("organization_name", organization_name)?;
        if self.ctx.store.find_user_by_email(&email).await?.is_some() {
            return Err(email_taken());
        }
        let now = self.ctx.now();
        let user = User {
            id: new_id(IdKind::User, self.ctx.rng.as_ref())?,
            email,
            password_hash: self.hash_password(password).await?,
            created_at: now,
        };
        let organization = Organization {
            id: new_id(IdKind::Organization, self.ctx.rng.as_ref())?,
            name,
            operator: false,
            token_policy: TokenPolicy::default(),
            created_at: now,
            created_by: user.id.clone(),
        };
        let keyspace = Keyspace {
            id: new_id(IdKind::Keyspace, self.ctx.rng.as_ref())?,
            org_id: organization.id.clone(),
            name: "keyward management".into(),
            environment: Environment::Live,
            prefix: self.ctx.config.default_prefix.clone(),
            default_ttl_seconds: None,
            scope_catalog: None,
            management: true,
            rotation_period_days: None,
            disable_after_inactive_days: None,
            created_at: now,
            created_by: user.id.clone(),
        };
        let member = Member {
            org_id: organization.id.clone(),
            user_id: user.id.clone(),
            email: user.email.clone(),
            role: Role::Owner,
            joined_at: now,
        };
        let signed_up = AuditEntry::UserSignedUp {
            email: &user.email,
            organization_id: &organization.id,
            organization_name: &organization.name,
        };
        let event = self.ctx.user_event(&organization.id, &user.id, context, now, signed_up)?;
        let founding = Founding {
            organization: &organization,
            keyspace: &keyspace,
            admin: None,
            owner: Some((&user, &member)),
            event: &event,
        };
        self.ctx.store.create_organization(&founding).await.map_err(|error| match error {
            StoreError::Conflict(_) => {
                EngineError::Conflict("an account with this email exists; sign in instead".into())
            }
            other => other.into(),
        })?;
        self.start_session(&user, &member, "sign_up", context).await
    }

    /// Signs a user in to `organization` (their oldest membership when
    /// `None`). Every failure of email or password is the same
    /// [`EngineError::InvalidCredentials`], and costs the same time.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        organization: Option<&str>,
        context: &RequestContext,
    ) -> Result<NewSession, EngineError> {
        let email = match validate::email(email) {
            Ok(email) => email,
            Err(invalid) => {
                // What was typed is not kept: it may be a password typed in the wrong field.
                self.record_sign_in_failure(None, None, "malformed_email", context).await;
                return Err(invalid.into());
            }
        };
        let now = self.ctx.clock.now_micros();
        if let Err(retry_after_seconds) = self.throttle.check(&email, context.source_ip, now) {
            // No lookup: a throttled flood must stay cheap. Recorded for the installation only.
            self.record_sign_in_failure(Some(&email), None, "throttled", context).await;
            return Err(EngineError::Throttled { retry_after_seconds });
        }
        let user = self.ctx.store.find_user_by_email(&email).await?;
        let matches = self.password_matches(user.as_ref().map(|u| u.password_hash.as_str()), password).await?;
        let user = match user {
            Some(user) if matches => user,
            other => {
                self.throttle.record_failure(&email, context.source_ip, now);
                let reason = if other.is_some() { "wrong_password" } else { "unknown_account" };
                self.record_sign_in_failure(Some(&email), other.as_ref(), reason, context).await;
                return Err(EngineError::InvalidCredentials);
            }
        };
        self.throttle.record_success(&email, context.source_ip, now);
        let memberships = self.ctx.store.memberships_of(&user.id).await?;
        let member = match organization {
            Some(org) => memberships.into_iter().find(|m| m.org_id == org),
            None => memberships.into_iter().next(),
        };
        let Some(member) = member else {
            self.record_sign_in_failure(Some(&email), Some(&user), "no_membership", context).await;
            return Err(EngineError::NoMembership);
        };
        self.start_session(&user, &member, "password", context).await
    }

    /// Ends the session with this secret, logging `session.signed_out`.
    /// Whether there was one.
    pub async fn sign_out(&self, secret: &str, context: &RequestContext) -> Result<bool, EngineError> {
        if !looks_like_secret(SESSION_PREFIX, secret) {
            return Ok(false);
        }
        self.end_session(&TokenDigest::of(secret), context).await
    }

    /// Changes the signed-in user's password after checking the current
    /// one (throttled like sign-in), and ends their other sessions: whoever
    /// knew the old password may hold one. Logged as
    /// `account.password_changed` in each of the user's organizations.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
        context: &RequestContext,
    ) -> Result<(), EngineError> {
        let Some(signed_in) = actor.principal.signed_in() else {
            return Err(EngineError::Rejected {
                code: "no_session",
                detail: "Only a signed-in person has a password; tokens do not.".into(),
            });
        };
        let user = self.ctx.store.get_user(&signed_in.user_id).await?.ok_or(EngineError::InvalidCredentials)?;
        let now_micros = self.ctx.clock.now_micros();
        if let Err(retry_after_seconds) = self.throttle.check(&user.email, context.source_ip, now_micros) {
            return Err(EngineError::Throttled { retry_after_seconds });
        }
        if !self.password_matches(Some(&user.password_hash), current).await? {
            self.throttle.record_failure(&user.email, context.source_ip, now_micros);
            return Err(InvalidField::new("current_password", "This is not your current password.").into());
        }
        validate::new_password(new).map_err(|invalid| InvalidField::new("new_password", invalid.message))?;
        let hash = self.hash_password(new).await?;
        let mut events = Vec::new();
        let user_agent = context.user_agent.as_deref().map(crate::security::sanitized);
        for member in self.ctx.store.memberships_of(&user.id).await? {
            let changed = AuditEntry::PasswordChanged {
                email: &user.email,
                session_id: &signed_in.session_id,
                user_agent: user_agent.as_deref(),
                other_sessions_ended: True,
            };
            events.push(self.ctx.event_in(&member.org_id, actor, changed, "user", &user.id)?);
        }
        if !self.ctx.store.change_password(&user.id, &hash, Some(&signed_in.session_id), &events).await? {
            return Err(EngineError::InvalidCredentials);
        }
        Ok(())
    }

    /// The user behind a session secret, with their current role; `None`
    /// for anything unknown, expired, or whose membership has ended.
    pub async fn authenticate_session(&self, secret: &str) -> Result<Option<Principal>, EngineError> {
        if !looks_like_secret(SESSION_PREFIX, secret) {
            return Ok(None);
        }
        let Some((session, member)) = self.ctx.store.find_signed_in(&TokenDigest::of(secret)).await? else {
            return Ok(None);
        };
        if self.ctx.now() >= session.expires_at {
            // The session is refused either way; failing to log its end must not fail the page.
            if let Err(error) = self.expire_session(&TokenDigest::of(secret), &session).await {
                tracing::warn!(%error, "an expired session could not be deleted and logged");
            }
            return Ok(None);
        }
        let Some(member) = member else {
            return Ok(None);
        };
        let grant = RoleGrant { role: member.role, operator: self.is_operator_org(&session.org_id).await? };
        Ok(Some(Principal::user(SignedIn {
            session_id: session.id,
            user_id: member.user_id,
            email: member.email,
            org_id: session.org_id,
            grant,
            expires_at: session.expires_at,
            password_confirmed_at: session.password_confirmed_at,
        })))
    }

    /// Invites `email` to the actor's organization as `role`, for
    /// `expires_in` seconds (7 days by default). Nobody invites above their
    /// own standing.
    pub async fn invite(
        &self,
        actor: &Actor,
        email: &str,
        role: Role,
        expires_in: Option<i64>,
    ) -> Result<CreatedInvitation, EngineError> {
        actor.require(management::MEMBERS_WRITE)?;
        let email = validate::email(email)?;
        let seconds = expires_in.unwrap_or(DEFAULT_INVITATION_SECONDS);
        if seconds <= 0 || seconds > MAX_INVITATION_SECONDS {
            return Err(InvalidField::new("expires_in", "must be between 1 second and 30 days").into());
        }
        refuse_membership_from_bounded(actor, role)?;
        self.require_may_assign(actor, role).await?;
        if let Some(user) = self.ctx.store.find_user_by_email(&email).await? {
            if self.ctx.store.get_member(actor.org_id(), &user.id).await?.is_some() {
                return Err(EngineError::Rejected {
                    code: "already_member",
                    detail: format!("{email} is a member already."),
                });
            }
        }
        let now = self.ctx.now();
        let secret = random_secret(INVITATION_PREFIX, self.ctx.rng.as_ref())?;
        let invitation = Invitation {
            id: new_id(IdKind::Invitation, self.ctx.rng.as_ref())?,
            org_id: actor.org_id().to_owned(),
            email,
            role,
            created_at: now,
            created_by: actor.principal.id().to_owned(),
            expires_at: now + chrono::Duration::seconds(seconds),
            accepted_at: None,
        };
        let invited = AuditEntry::InvitationCreated {
            email: &invitation.email,
            role,
            expires_at: invitation.expires_at,
            setup: None,
        };
        let event = self.ctx.event(actor, invited, "invitation", &invitation.id)?;
        self.ctx.store.create_invitation(&invitation, &TokenDigest::of(secret.expose()), &event).await?;
        Ok(CreatedInvitation { invitation, secret })
    }

    /// Fails unless `actor` holds every scope of `role`: nobody invites,
    /// promotes or removes anyone above their own standing.
    async fn require_may_assign(&self, actor: &Actor, role: Role) -> Result<(), EngineError> {
        let operator = self.is_operator_org(actor.org_id()).await?;
        if actor.may_assign(role, operator) {
            Ok(())
        } else {
            let missing =
                role.scopes(operator).iter().filter(|scope| !actor.holds(scope)).map(|s| (*s).to_owned()).collect();
            Err(EngineError::Escalation { scopes: missing })
        }
    }

    /// Invitations of the actor's organization still waiting.
    pub async fn list_invitations(&self, actor: &Actor) -> Result<Vec<Invitation>, EngineError> {
        actor.require(management::MEMBERS_READ)?;
        Ok(self.ctx.store.list_pending_invitations(actor.org_id(), self.ctx.now()).await?)
    }

    /// Withdraws a pending invitation.
    pub async fn revoke_invitation(&self, actor: &Actor, id: &InvitationId) -> Result<(), EngineError> {
        actor.require(management::MEMBERS_WRITE)?;
        let event = self.ctx.event(actor, AuditEntry::InvitationRevoked {}, "invitation", id)?;
        match self.ctx.store.revoke_invitation(actor.org_id(), id, &event).await? {
            true => Ok(()),
            false => Err(EngineError::NotFound("invitation")),
        }
    }

    /// Whether a token that is bounded now made `invitation` (before such
    /// tokens were refused invitations): it is not honoured.
    async fn made_by_bounded_token(&self, invitation: &Invitation) -> Result<bool, EngineError> {
        if !id::looks_like(IdKind::Token, &invitation.created_by) {
            return Ok(false);
        }
        let creator = self.ctx.store.get_token(&invitation.org_id, &invitation.created_by).await?;
        Ok(creator.as_ref().is_some_and(|creator| ParentBound::by(creator).binds()))
    }

    /// Accepts an invitation: creates the account (with `password`) when
    /// the invited email has none, or checks `password` against the
    /// existing account; joins; signs in. Spent, withdrawn, expired and
    /// unknown invitations are all [`EngineError::InvitationInvalid`].
    pub async fn accept_invitation(
        &self,
        secret: &str,
        password: &str,
        context: &RequestContext,
    ) -> Result<NewSession, EngineError> {
        if !looks_like_secret(INVITATION_PREFIX, secret) {
            return Err(EngineError::InvitationInvalid);
        }
        let invitation =
            self.ctx.store.find_invitation(&TokenDigest::of(secret)).await?.ok_or(EngineError::InvitationInvalid)?;
        let now = self.ctx.now();
        let spent = invitation.accepted_at.is_some() || now >= invitation.expires_at;
        if spent || self.made_by_bounded_token(&invitation).await? {
            return Err(EngineError::InvitationInvalid);
        }
        let existing = self.ctx.store.find_user_by_email(&invitation.email).await?;
        let (user, new_user) = match existing {
            Some(user) => {
                let now_micros = self.ctx.clock.now_micros();
                if let Err(retry_after_seconds) = self.throttle.check(&user.email, context.source_ip, now_micros) {
                    return Err(EngineError::Throttled { retry_after_seconds });
                }
                if !self.password_matches(Some(&user.password_hash), password).await? {
                    self.throttle.record_failure(&user.email, context.source_ip, now_micros);
                    self.record_sign_in_failure(Some(&user.email), Some(&user), "wrong_password", context).await;
                    return Err(EngineError::InvalidCredentials);
                }
                (user, false)
            }
            None => {
                validate::new_password(password)?;
                let user = User {
                    id: new_id(IdKind::User, self.ctx.rng.as_ref())?,
                    email: invitation.email.clone(),
                    password_hash: self.hash_password(password).await?,
                    created_at: now,
                };
                (user, true)
            }
        };
        let member = Member {
            org_id: invitation.org_id.clone(),
            user_id: user.id.clone(),
            email: user.email.clone(),
            role: invitation.role,
            joined_at: now,
        };
        let joined = AuditEntry::MemberJoined {
            email: &user.email,
            role: invitation.role,
            invitation_id: &invitation.id,
            new_account: new_user,
        };
        let event = self.ctx.user_event(&invitation.org_id, &user.id, context, now, joined)?;
        let acceptance = Acceptance {
            invitation_id: &invitation.id,
            at: now,
            new_user: new_user.then_some(&user),
            member: &member,
            event: &event,
        };
        let accepted = self.ctx.store.accept_invitation(&acceptance).await.map_err(|error| match error {
            StoreError::Conflict(_) => EngineError::Rejected {
                code: "already_member",
                detail: "You are a member of this organization already.".into(),
            },
            other => other.into(),
        })?;
        if !accepted {
            return Err(EngineError::InvitationInvalid);
        }
        self.start_session(&user, &member, "invitation", context).await
    }

    /// Members of the actor's organization.
    pub async fn list_members(&self, actor: &Actor) -> Result<Vec<Member>, EngineError> {
        actor.require(management::MEMBERS_READ)?;
        Ok(self.ctx.store.list_members(actor.org_id()).await?)
    }

    async fn member_to_manage(&self, actor: &Actor, user_id: &str) -> Result<Member, EngineError> {
        actor.require(management::MEMBERS_WRITE)?;
        let member =
            self.ctx.store.get_member(actor.org_id(), user_id).await?.ok_or(EngineError::NotFound("member"))?;
        self.require_may_assign(actor, member.role).await?;
        Ok(member)
    }

    /// Changes a member's role. The actor must stand at or above both the
    /// old and the new role; the last owner cannot step down.
    pub async fn set_member_role(&self, actor: &Actor, user_id: &UserId, role: Role) -> Result<Member, EngineError> {
        let member = self.member_to_manage(actor, user_id).await?;
        refuse_membership_from_bounded(actor, role)?;
        self.require_may_assign(actor, role).await?;
        let changed =
            AuditEntry::MemberRoleChanged { email: &member.email, role_before: member.role, role_after: role };
        let event = self.ctx.event(actor, changed, "user", user_id)?;
        let member = self
            .ctx
            .store
            .set_member_role(actor.org_id(), user_id, role, &event)
            .await
            .map_err(last_owner)?
            .ok_or(EngineError::NotFound("member"))?;
        self.ctx.cache.invalidate_member(actor.org_id(), user_id);
        Ok(member)
    }

    /// Removes a member: ends their sessions and revokes every token they
    /// own here, each revocation logged with reason `member_removed`.
    /// Returns the revoked tokens. Service-account tokens are untouched.
    pub async fn remove_member(&self, actor: &Actor, user_id: &UserId) -> Result<Vec<TokenRecord>, EngineError> {
        let member = self.member_to_manage(actor, user_id).await?;
        let removed = AuditEntry::MemberRemoved { email: &member.email, role: member.role };
        let event = self.ctx.event(actor, removed, "user", user_id)?;
        let reason = OwnerGone::MemberRemoved;
        let revoked = self
            .ctx
            .store
            .remove_member(actor.org_id(), user_id, self.ctx.now(), &event, &|token| {
                self.consequential_revocation(actor, token, reason, user_id)
            })
            .await
            .map_err(last_owner)?
            .ok_or(EngineError::NotFound("member"))?;
        self.ctx.cache.invalidate_member(actor.org_id(), user_id);
        Ok(self.evict(revoked))
    }

    fn consequential_revocation(
        &self,
        actor: &Actor,
        token: &TokenRecord,
        reason: OwnerGone,
        owner: &str,
    ) -> Result<keyward_core::model::AuditEvent, StoreError> {
        self.ctx
            .event(actor, AuditEntry::TokenRevokedWithOwner { reason, owner }, "token", &token.id)
            .map_err(|error| StoreError::Backend(Box::new(error)))
    }

    fn evict(&self, revoked: Vec<StoredToken>) -> Vec<TokenRecord> {
        revoked
            .into_iter()
            .map(|stored| {
                self.ctx.cache.invalidate(&stored.digest);
                stored.record
            })
            .collect()
    }

    /// Creates a service account: a principal of the organization that
    /// owns tokens meant to outlive any one person's membership.
    pub async fn create_service_account(&self, actor: &Actor, name: &str) -> Result<ServiceAccount, EngineError> {
        actor.require(management::MEMBERS_WRITE)?;
        let name = validate::name("name", name)?;
        let account = ServiceAccount {
            id: new_id(IdKind::ServiceAccount, self.ctx.rng.as_ref())?,
            org_id: actor.org_id().to_owned(),
            name,
            created_at: self.ctx.now(),
            created_by: actor.principal.id().to_owned(),
        };
        let created = AuditEntry::ServiceAccountCreated { name: &account.name };
        let event = self.ctx.event(actor, created, "service_account", &account.id)?;
        self.ctx.store.create_service_account(&account, &event).await.map_err(|error| match error {
            StoreError::Conflict(_) => {
                EngineError::Conflict(format!("a service account named `{}` exists", account.name))
            }
            other => other.into(),
        })?;
        Ok(account)
    }

    /// Service accounts of the actor's organization.
    pub async fn list_service_accounts(&self, actor: &Actor) -> Result<Vec<ServiceAccount>, EngineError> {
        actor.require(management::MEMBERS_READ)?;
        Ok(self.ctx.store.list_service_accounts(actor.org_id()).await?)
    }

    /// Removes a service account and revokes its tokens (reason
    /// `service_account_removed`). Returns the revoked tokens.
    pub async fn remove_service_account(
        &self,
        actor: &Actor,
        id: &ServiceAccountId,
    ) -> Result<Vec<TokenRecord>, EngineError> {
        actor.require(management::MEMBERS_WRITE)?;
        let account = self
            .ctx
            .store
            .get_service_account(actor.org_id(), id)
            .await?
            .ok_or(EngineError::NotFound("service account"))?;
        let removed = AuditEntry::ServiceAccountRemoved { name: &account.name };
        let event = self.ctx.event(actor, removed, "service_account", id)?;
        let revoked = self
            .ctx
            .store
            .remove_service_account(actor.org_id(), id, self.ctx.now(), &event, &|token| {
                self.consequential_revocation(actor, token, OwnerGone::ServiceAccountRemoved, id)
            })
            .await?
            .ok_or(EngineError::NotFound("service account"))?;
        Ok(self.evict(revoked))
    }
}

fn email_taken() -> EngineError {
    EngineError::Rejected { code: "email_taken", detail: "An account with this email exists; sign in instead.".into() }
}

/// The store's only conflict on memberships is the last-owner rule.
fn last_owner(error: StoreError) -> EngineError {
    match error {
        StoreError::Conflict(_) => EngineError::Rejected {
            code: "last_owner",
            detail: "An organization keeps at least one owner; make someone else owner first.".into(),
        },
        other => other.into(),
    }
}

/// Refuses a token that expires or is limited to networks giving anyone a
/// membership or a role: a membership outlives any token and is usable
/// from anywhere, so a leaked short-lived CI token could otherwise leave a
/// permanent owner behind. Removing a member takes access away and stays open.
fn refuse_membership_from_bounded(actor: &Actor, role: Role) -> Result<(), EngineError> {
    let Some(token) = actor.minting_token() else {
        return Ok(());
    };
    match ParentBound::by(token).described() {
        None => Ok(()),
        Some(bound) => Err(EngineError::ExceedsParentBounds {
            field: "role",
            detail: format!(
                "this token {bound}, but a {} membership would last and be usable from anywhere; invite or change \
                 roles from a signed-in session or a token without expiry or network limits.",
                role.as_str()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_their_shape_and_csrf_tokens_bind_to_them() {
        let rng = keyward_core::SeededRng::new(7);
        let session = random_secret(SESSION_PREFIX, &rng).unwrap_or_else(|_| SecretToken::new(String::new()));
        assert!(looks_like_secret(SESSION_PREFIX, session.expose()));
        assert!(!looks_like_secret(INVITATION_PREFIX, session.expose()));
        let csrf = csrf_token(session.expose());
        assert!(csrf_matches(session.expose(), &csrf));
        assert!(!csrf_matches(session.expose(), ""));
        assert!(!csrf_matches("kws_other", &csrf));
        assert!(!csrf.contains(&session.expose()[4..12]), "the CSRF token does not reveal the secret");
    }
}
