//! The concern traits a SQL backend implements by handing each call to the
//! shared bodies: only which pool a call runs on is the backend's, so the
//! delegation is generated here instead of being written out in each
//! backend (the orphan rule keeps a blanket implementation out of reach).

/// Implements `AccountStore` for `$store` with the shared bodies of dialect
/// `$dialect`, reads on the pool in field `$reader` and writes on the one
/// in `$writer` (the same field where a backend has one pool).
#[macro_export]
macro_rules! account_store {
    ($store:ty, $dialect:ty, reader: $reader:ident, writer: $writer:ident) => {
        #[$crate::async_trait::async_trait]
        impl ::keyward_store::AccountStore for $store {
            async fn find_user_by_email(
                &self,
                email: &str,
            ) -> Result<Option<::keyward_core::model::User>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::find_user_by_email(&self.$reader, email).await
            }

            async fn get_user(
                &self,
                id: &str,
            ) -> Result<Option<::keyward_core::model::User>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::get_user(&self.$reader, id).await
            }

            async fn memberships_of(
                &self,
                user_id: &str,
            ) -> Result<Vec<::keyward_core::model::Member>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::memberships_of(&self.$reader, user_id).await
            }

            async fn get_member(
                &self,
                org: &str,
                user_id: &str,
            ) -> Result<Option<::keyward_core::model::Member>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::get_member(&self.$reader, org, user_id).await
            }

            async fn list_members(
                &self,
                org: &str,
            ) -> Result<Vec<::keyward_core::model::Member>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::list_members(&self.$reader, org).await
            }

            async fn set_member_role(
                &self,
                org: &str,
                user_id: &str,
                role: ::keyward_core::role::Role,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<Option<::keyward_core::model::Member>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::set_member_role(&self.$writer, org, user_id, role, event).await
            }

            async fn remove_member(
                &self,
                org: &str,
                user_id: &str,
                at: ::chrono::DateTime<::chrono::Utc>,
                event: &::keyward_core::model::AuditEvent,
                revocation_event: ::keyward_store::RevocationEvent<'_>,
            ) -> Result<Option<Vec<::keyward_store::StoredToken>>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::remove_member(
                    &self.$writer,
                    org,
                    user_id,
                    at,
                    event,
                    revocation_event,
                )
                .await
            }

            async fn create_invitation(
                &self,
                invitation: &::keyward_core::model::Invitation,
                digest: &::keyward_core::TokenDigest,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::create_invitation(&self.$writer, invitation, digest, event)
                    .await
            }

            async fn find_invitation(
                &self,
                digest: &::keyward_core::TokenDigest,
            ) -> Result<Option<::keyward_core::model::Invitation>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::find_invitation(&self.$reader, digest).await
            }

            async fn list_pending_invitations(
                &self,
                org: &str,
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> Result<Vec<::keyward_core::model::Invitation>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::list_pending_invitations(&self.$reader, org, now).await
            }

            async fn revoke_invitation(
                &self,
                org: &str,
                id: &str,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<bool, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::revoke_invitation(&self.$writer, org, id, event).await
            }

            async fn accept_invitation(
                &self,
                acceptance: &::keyward_store::Acceptance<'_>,
            ) -> Result<bool, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::accept_invitation(&self.$writer, acceptance).await
            }

            async fn create_session(
                &self,
                session: &::keyward_core::model::Session,
                digest: &::keyward_core::TokenDigest,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::create_session(&self.$writer, session, digest, event).await
            }

            async fn find_signed_in(
                &self,
                digest: &::keyward_core::TokenDigest,
            ) -> Result<
                Option<(::keyward_core::model::Session, Option<::keyward_core::model::Member>)>,
                ::keyward_store::StoreError,
            > {
                $crate::accounts::Accounts::<$dialect>::find_signed_in(&self.$reader, digest).await
            }

            async fn find_session(
                &self,
                digest: &::keyward_core::TokenDigest,
            ) -> Result<Option<::keyward_core::model::Session>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::find_session(&self.$reader, digest).await
            }

            async fn confirm_session_password(
                &self,
                org: &str,
                session_id: &str,
                at: ::chrono::DateTime<::chrono::Utc>,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<bool, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::confirm_session_password(
                    &self.$writer,
                    org,
                    session_id,
                    at,
                    event,
                )
                .await
            }

            async fn delete_session(
                &self,
                digest: &::keyward_core::TokenDigest,
                event: Option<&::keyward_core::model::AuditEvent>,
            ) -> Result<bool, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::delete_session(&self.$writer, digest, event).await
            }

            async fn change_password(
                &self,
                user_id: &str,
                password_hash: &str,
                keep_session: Option<&str>,
                events: &[::keyward_core::model::AuditEvent],
            ) -> Result<bool, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::change_password(
                    &self.$writer,
                    user_id,
                    password_hash,
                    keep_session,
                    events,
                )
                .await
            }

            async fn organizations_holding(
                &self,
                org: &str,
                id: &str,
            ) -> Result<Vec<String>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::organizations_holding(&self.$reader, org, id).await
            }

            async fn create_service_account(
                &self,
                account: &::keyward_core::model::ServiceAccount,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::create_service_account(&self.$writer, account, event).await
            }

            async fn get_service_account(
                &self,
                org: &str,
                id: &str,
            ) -> Result<Option<::keyward_core::model::ServiceAccount>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::get_service_account(&self.$reader, org, id).await
            }

            async fn list_service_accounts(
                &self,
                org: &str,
            ) -> Result<Vec<::keyward_core::model::ServiceAccount>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::list_service_accounts(&self.$reader, org).await
            }

            async fn remove_service_account(
                &self,
                org: &str,
                id: &str,
                at: ::chrono::DateTime<::chrono::Utc>,
                event: &::keyward_core::model::AuditEvent,
                revocation_event: ::keyward_store::RevocationEvent<'_>,
            ) -> Result<Option<Vec<::keyward_store::StoredToken>>, ::keyward_store::StoreError> {
                $crate::accounts::Accounts::<$dialect>::remove_service_account(
                    &self.$writer,
                    org,
                    id,
                    at,
                    event,
                    revocation_event,
                )
                .await
            }
        }
    };
}

/// Implements `WebhookStore` for `$store` with the shared bodies of dialect
/// `$dialect`, reads on the pool in field `$reader` and writes on the one
/// in `$writer` (the same field where a backend has one pool).
#[macro_export]
macro_rules! webhook_store {
    ($store:ty, $dialect:ty, reader: $reader:ident, writer: $writer:ident) => {
        #[$crate::async_trait::async_trait]
        impl ::keyward_store::WebhookStore for $store {
            async fn create_webhook(
                &self,
                endpoint: &::keyward_core::model::WebhookEndpoint,
                sealed_secret: &[u8],
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::webhooks::Webhooks::<$dialect>::create(&self.$writer, endpoint, sealed_secret, event).await
            }

            async fn rotate_webhook_secret(
                &self,
                org: &str,
                id: &str,
                sealed_secret: &[u8],
                previous_until: ::chrono::DateTime<::chrono::Utc>,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<bool, ::keyward_store::StoreError> {
                $crate::webhooks::Webhooks::<$dialect>::rotate_secret(
                    &self.$writer,
                    org,
                    id,
                    sealed_secret,
                    previous_until,
                    event,
                )
                .await
            }

            async fn list_webhooks(
                &self,
                org: &str,
            ) -> Result<Vec<::keyward_core::model::WebhookEndpoint>, ::keyward_store::StoreError> {
                $crate::webhooks::Webhooks::<$dialect>::list(&self.$reader, org).await
            }

            async fn get_webhook(
                &self,
                org: &str,
                id: &str,
            ) -> Result<Option<::keyward_core::model::WebhookEndpoint>, ::keyward_store::StoreError> {
                $crate::webhooks::Webhooks::<$dialect>::get(&self.$reader, org, id).await
            }

            async fn delete_webhook(
                &self,
                org: &str,
                id: &str,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<bool, ::keyward_store::StoreError> {
                $crate::webhooks::Webhooks::<$dialect>::delete(&self.$writer, org, id, event).await
            }

            async fn claim_deliveries(
                &self,
                now: ::chrono::DateTime<::chrono::Utc>,
                lease_until: ::chrono::DateTime<::chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<::keyward_store::DueDelivery>, ::keyward_store::StoreError> {
                $crate::webhooks::Webhooks::<$dialect>::claim(&self.$writer, now, lease_until, limit).await
            }

            async fn finish_attempt(
                &self,
                outcome: &::keyward_store::AttemptOutcome,
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::webhooks::Webhooks::<$dialect>::finish(&self.$writer, outcome).await
            }

            async fn list_deliveries(
                &self,
                org: &str,
                endpoint_id: &str,
                page: &::keyward_store::PageRequest,
            ) -> Result<::keyward_store::Page<::keyward_core::model::WebhookDelivery>, ::keyward_store::StoreError>
            {
                $crate::webhooks::Webhooks::<$dialect>::deliveries(&self.$reader, org, endpoint_id, page).await
            }
        }
    };
}

/// Implements `OrganizationStore` for `$store` with the shared bodies of
/// dialect `$dialect`, on the pools in fields `$reader` and `$writer`.
#[macro_export]
macro_rules! organization_store {
    ($store:ty, $dialect:ty, reader: $reader:ident, writer: $writer:ident) => {
        #[$crate::async_trait::async_trait]
        impl ::keyward_store::OrganizationStore for $store {
            async fn bootstrap(
                &self,
                founding: &::keyward_store::Founding<'_>,
            ) -> Result<bool, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::bootstrap(&self.$writer, founding).await
            }

            async fn operator_organization(
                &self,
            ) -> Result<Option<::keyward_core::model::Organization>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::operator_organization(&self.$reader).await
            }

            async fn create_organization(
                &self,
                founding: &::keyward_store::Founding<'_>,
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::create_organization(&self.$writer, founding).await
            }

            async fn get_organization(
                &self,
                id: &str,
            ) -> Result<Option<::keyward_core::model::Organization>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::get_organization(&self.$reader, id).await
            }

            async fn list_organizations(
                &self,
                page: &::keyward_store::PageRequest,
            ) -> Result<::keyward_store::Page<::keyward_core::model::Organization>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::list_organizations(&self.$reader, page).await
            }

            async fn rename_organization(
                &self,
                org: &str,
                name: &str,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<Option<::keyward_core::model::Organization>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::rename_organization(&self.$writer, org, name, event)
                    .await
            }

            async fn set_token_policy(
                &self,
                org: &str,
                policy: &::keyward_core::policy::TokenPolicy,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<Option<::keyward_core::model::Organization>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::set_token_policy(&self.$writer, org, policy, event)
                    .await
            }

            async fn management_keyspace(
                &self,
                org: &str,
            ) -> Result<Option<::keyward_core::model::Keyspace>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::management_keyspace(&self.$reader, org).await
            }

            async fn create_keyspace(
                &self,
                keyspace: &::keyward_core::model::Keyspace,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::create_keyspace(&self.$writer, keyspace, event).await
            }

            async fn get_keyspace(
                &self,
                org: &str,
                id: &str,
            ) -> Result<Option<::keyward_core::model::Keyspace>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::get_keyspace(&self.$reader, org, id).await
            }

            async fn directory(&self, org: &str) -> Result<::keyward_store::Directory, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::directory(&self.$reader, org).await
            }

            async fn list_keyspaces(
                &self,
                org: &str,
                page: &::keyward_store::PageRequest,
            ) -> Result<::keyward_store::Page<::keyward_core::model::Keyspace>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::list_keyspaces(&self.$reader, org, page).await
            }

            async fn set_keyspace_lifecycle(
                &self,
                org: &str,
                id: &str,
                lifecycle: &::keyward_store::KeyspaceLifecycle,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<Option<::keyward_core::model::Keyspace>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::set_keyspace_lifecycle(
                    &self.$writer,
                    org,
                    id,
                    lifecycle,
                    event,
                )
                .await
            }

            async fn replace_scope_catalog(
                &self,
                org: &str,
                id: &str,
                catalog: Option<&[::keyward_core::model::CatalogScope]>,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<Option<::keyward_core::model::Keyspace>, ::keyward_store::StoreError> {
                $crate::organizations::Organizations::<$dialect>::replace_scope_catalog(
                    &self.$writer,
                    org,
                    id,
                    catalog,
                    event,
                )
                .await
            }
        }
    };
}

/// Implements `AuditStore` for `$store` with dialect `$dialect`: appends on
/// the pool in field `$writer`, reads on the one in `$reader`. The list runs
/// here, in the backend's crate, where the database type is concrete: a
/// generic query builder's arguments cannot be held across the await.
#[macro_export]
macro_rules! audit_store {
    ($store:ty, $dialect:ty, reader: $reader:ident, writer: $writer:ident) => {
        #[$crate::async_trait::async_trait]
        impl ::keyward_store::AuditStore for $store {
            async fn append_audit_event(
                &self,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<(), ::keyward_store::StoreError> {
                let mut tx = self.$writer.begin().await.map_err($crate::backend)?;
                $crate::write::Writes::<$dialect>::event(&mut *tx, event).await?;
                tx.commit().await.map_err($crate::backend)
            }

            async fn list_audit(
                &self,
                org: &str,
                filter: &::keyward_store::AuditFilter,
                page: &::keyward_store::PageRequest,
            ) -> Result<::keyward_store::Page<::keyward_core::model::AuditEvent>, ::keyward_store::StoreError> {
                let mut query = $crate::query::audit_list::<<$dialect as $crate::Dialect>::Db>(org, filter, page);
                let rows: Vec<$crate::rows::AuditRow<<$dialect as $crate::Dialect>::Json>> =
                    query.build_query_as().fetch_all(&self.$reader).await.map_err($crate::backend)?;
                let items = rows.into_iter().map(|row| row.into_event()).collect::<Result<Vec<_>, _>>()?;
                Ok(::keyward_store::Page::from_rows(items, page, |e| {
                    ::keyward_store::Cursor::at(e.occurred_at.timestamp_micros(), &e.id)
                }))
            }
        }
    };
}

/// Implements `UsageStore` for `$store` with the shared bodies of dialect
/// `$dialect` on the pools in fields `$reader` and `$writer`.
#[macro_export]
macro_rules! usage_store {
    ($store:ty, $dialect:ty, reader: $reader:ident, writer: $writer:ident) => {
        #[$crate::async_trait::async_trait]
        impl ::keyward_store::UsageStore for $store {
            async fn record_client_sightings(
                &self,
                sightings: &[::keyward_store::ClientSighting],
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::usage::Usage::<$dialect>::record_client_sightings(&self.$writer, sightings).await
            }

            async fn list_token_clients(
                &self,
                org: &str,
                token_id: &str,
            ) -> Result<Vec<::keyward_store::ClientSighting>, ::keyward_store::StoreError> {
                $crate::usage::Usage::<$dialect>::list_token_clients(&self.$reader, org, token_id).await
            }

            async fn record_usage(
                &self,
                deltas: &[::keyward_store::UsageDelta],
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::usage::Usage::<$dialect>::record_usage(&self.$writer, deltas).await
            }

            async fn usage_by_day(
                &self,
                org: &str,
                token_id: &str,
                since_day: i64,
            ) -> Result<Vec<::keyward_store::DailyUsage>, ::keyward_store::StoreError> {
                $crate::usage::Usage::<$dialect>::usage_by_day(&self.$reader, org, token_id, since_day).await
            }

            async fn record_verification_samples(
                &self,
                samples: &[::keyward_store::VerificationSample],
            ) -> Result<(), ::keyward_store::StoreError> {
                $crate::usage::Usage::<$dialect>::record_verification_samples(&self.$writer, samples).await
            }

            async fn last_successful_verifications(
                &self,
                org: &str,
                token_ids: &[String],
            ) -> Result<Vec<::keyward_store::VerificationSample>, ::keyward_store::StoreError> {
                $crate::usage::Usage::<$dialect>::last_successful_verifications(&self.$reader, org, token_ids).await
            }

            async fn recent_verifications(
                &self,
                org: &str,
                token_id: &str,
                limit: u32,
            ) -> Result<Vec<::keyward_store::VerificationSample>, ::keyward_store::StoreError> {
                $crate::usage::Usage::<$dialect>::recent_verifications(&self.$reader, org, token_id, limit).await
            }
        }
    };
}

/// Implements `TokenStore` for `$store` with the shared bodies of dialect
/// `$dialect`, reads on the pool in field `$reader` and writes on the one
/// in `$writer`; creation, whose admission is each backend's own, goes to
/// the store's `create_token_sql`. Lists and bulk revocations run their
/// query builders here, where the database type is concrete (see
/// `audit_store`).
#[macro_export]
macro_rules! token_store {
    ($store:ty, $dialect:ty, reader: $reader:ident, writer: $writer:ident) => {
        #[$crate::async_trait::async_trait]
        impl ::keyward_store::TokenStore for $store {
            async fn count_active_tokens(
                &self,
                org: &str,
                owner: &str,
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> Result<u64, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::count_active(&self.$reader, org, owner, now).await
            }

            async fn create_token(
                &self,
                token: &::keyward_core::model::TokenRecord,
                digest: &::keyward_core::TokenDigest,
                event: &::keyward_core::model::AuditEvent,
                limit: Option<::keyward_store::ActiveTokenLimit>,
            ) -> Result<(), ::keyward_store::StoreError> {
                self.create_token_sql($crate::tokens::Creation { token, digest, event, limit }).await
            }

            async fn find_token_by_digest(
                &self,
                digest: &::keyward_core::TokenDigest,
            ) -> Result<Option<::keyward_core::model::TokenRecord>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::find_by_digest(&self.$reader, digest).await
            }

            async fn get_token(
                &self,
                org: &str,
                id: &str,
            ) -> Result<Option<::keyward_core::model::TokenRecord>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::get(&self.$reader, org, id).await
            }

            async fn list_tokens(
                &self,
                org: &str,
                filter: &::keyward_store::TokenFilter,
                page: &::keyward_store::PageRequest,
            ) -> Result<::keyward_store::Page<::keyward_core::model::TokenRecord>, ::keyward_store::StoreError> {
                let mut query = $crate::query::token_list::<$dialect>(org, filter, page);
                let rows: Vec<$crate::tokens::Row<$dialect>> =
                    query.build_query_as().fetch_all(&self.$reader).await.map_err($crate::backend)?;
                $crate::tokens::Tokens::<$dialect>::page(rows, filter, page)
            }

            async fn update_token(
                &self,
                org: &str,
                id: &str,
                update: &::keyward_store::TokenUpdate,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<Option<::keyward_store::StoredToken>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::update(&self.$writer, org, id, update, event).await
            }

            async fn revoke_token(
                &self,
                org: &str,
                id: &str,
                at: ::chrono::DateTime<::chrono::Utc>,
                reason: ::keyward_core::model::RevokedReason,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<Option<::keyward_store::Revocation>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::revoke(&self.$writer, org, id, at, reason, event).await
            }

            async fn revoke_with_descendants(
                &self,
                org: &str,
                id: &str,
                at: ::chrono::DateTime<::chrono::Utc>,
                reason: ::keyward_core::model::RevokedReason,
                customer_tokens: bool,
                event: &::keyward_core::model::AuditEvent,
                revocation_event: ::keyward_store::RevocationEvent<'_>,
            ) -> Result<Option<::keyward_store::LineageRevocation>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::revoke_with_descendants(
                    &self.$writer,
                    org,
                    id,
                    at,
                    reason,
                    customer_tokens,
                    event,
                    revocation_event,
                )
                .await
            }

            async fn switch_token(
                &self,
                org: &str,
                id: &str,
                switch: ::keyward_store::Switch,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<::keyward_store::Guarded<::keyward_store::Switched>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::switch(&self.$writer, org, id, switch, event).await
            }

            async fn delete_token(
                &self,
                org: &str,
                id: &str,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<Option<::keyward_store::StoredToken>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::delete(&self.$writer, org, id, event).await
            }

            async fn lifecycle_candidates(
                &self,
                org: &str,
                window: &::keyward_store::LifecycleWindow,
                after_id: Option<&str>,
                limit: u32,
            ) -> Result<Vec<::keyward_core::model::TokenRecord>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::lifecycle_candidates(&self.$reader, org, window, after_id, limit)
                    .await
            }

            async fn record_notice(
                &self,
                notice: &::keyward_store::NoticeWrite<'_>,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<bool, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::record_notice(&self.$writer, notice, event).await
            }

            async fn count_matching(
                &self,
                org: &str,
                filter: &::keyward_store::BulkFilter,
            ) -> Result<u64, ::keyward_store::StoreError> {
                let mut query = $crate::query::bulk_count::<$dialect>(org, filter);
                let count: i64 = query.build_query_scalar().fetch_one(&self.$reader).await.map_err($crate::backend)?;
                Ok(u64::try_from(count).unwrap_or_default())
            }

            async fn revoke_matching(
                &self,
                org: &str,
                filter: &::keyward_store::BulkFilter,
                reason: ::keyward_core::model::RevokedReason,
                expected: Option<u64>,
                event: &::keyward_core::model::AuditEvent,
                revocation_event: ::keyward_store::RevocationEvent<'_>,
            ) -> Result<::keyward_store::BulkRevocation, ::keyward_store::StoreError> {
                let mut tx = self.$writer.begin().await.map_err($crate::backend)?;
                let mut query = $crate::query::bulk_revocation::<$dialect>(org, filter, reason);
                let rows: Vec<$crate::tokens::Row<$dialect>> =
                    query.build_query_as().fetch_all(&mut *tx).await.map_err($crate::backend)?;
                $crate::tokens::Tokens::<$dialect>::finish_bulk_revocation(tx, rows, expected, event, revocation_event)
                    .await
            }

            async fn rotate_token(
                &self,
                org: &str,
                rotation: &::keyward_store::RotationWrite<'_>,
            ) -> Result<::keyward_store::Guarded<::keyward_store::StoredToken>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::rotate(&self.$writer, org, rotation).await
            }

            async fn set_rotation_grace(
                &self,
                org: &str,
                id: &str,
                ends_at: ::chrono::DateTime<::chrono::Utc>,
                now: ::chrono::DateTime<::chrono::Utc>,
                event: &::keyward_core::model::AuditEvent,
            ) -> Result<::keyward_store::Guarded<::keyward_store::StoredToken>, ::keyward_store::StoreError> {
                $crate::tokens::Tokens::<$dialect>::set_rotation_grace(&self.$writer, org, id, ends_at, now, event)
                    .await
            }
        }
    };
}
