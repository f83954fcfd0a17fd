//! The behaviour every Keyward storage backend must share.
//!
//! Each backend's test file calls [`conformance_tests!`] with an async
//! function that yields a fresh, migrated, isolated store (or `None` when its
//! server is absent and the run is not under CI). The macro expands to one
//! `#[tokio::test]` per case, so a failure names the case and the backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account_cases;
pub mod cases;
pub mod counting;
mod directory_cases;
pub mod fixtures;
mod lifecycle_cases;
mod lineage_cases;
mod rotation_cases;
mod schedule_cases;
mod webhook_cases;

use keyward_store::Store;

/// A fresh store for one test, and whatever cleanup it needs afterwards.
pub trait TestBackend: Send {
    /// The store under test.
    fn store(&self) -> &dyn Store;
    /// Removes what the test created (a schema, a temp file).
    fn cleanup(self) -> impl std::future::Future<Output = ()> + Send;
}

/// Expands to one `#[tokio::test]` per conformance case. `$make` is an async
/// fn returning `Option<impl TestBackend>`; `None` skips (the backend printed
/// why).
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@cases $make;
            bootstrap_happens_once,
            one_management_keyspace_per_organization,
            tenants_are_isolated,
            scope_catalogs_are_replaced_whole_within_the_organization,
            token_policies_and_active_counts,
            keyspaces_round_trip_and_paginate,
            tokens_round_trip_by_id_and_digest,
            duplicate_digest_is_a_conflict_and_writes_nothing,
            concurrent_creations_succeed_or_fail_independently,
            racing_creations_never_pass_the_owner_limit,
            unknown_keyspace_is_a_missing_reference,
            failed_audit_write_rolls_back_the_change,
            update_changes_only_given_fields,
            revoke_is_idempotent_and_audited_once,
            token_filters_and_pagination,
            tokens_page_in_every_order,
            usage_batches_accumulate,
            audit_filters_and_pagination,
            users_invitations_and_sessions_round_trip,
            the_last_owner_stays_and_removal_revokes_what_a_member_owns,
            service_accounts_own_tokens_until_removed,
            password_changes_end_the_other_sessions,
            ids_of_other_tenants_are_told_from_missing_ones,
            rotation_replaces_an_active_token_once,
            rotation_grace_moves_only_within_its_bounds,
            racing_rotations_give_one_replacement,
            client_sightings_add_up_per_client_and_are_bounded,
            bulk_revocation_takes_exactly_the_matching_active_tokens,
            usage_is_counted_per_day_and_verifications_are_sampled,
            disabling_is_reversible_idempotent_and_never_undoes_a_revocation,
            deletion_removes_the_token_and_keeps_its_audit_trail,
            webhook_events_queue_with_their_change_and_only_for_subscribers,
            deliveries_are_leased_retried_and_logged_attempt_by_attempt,
            a_refused_attempt_is_logged_with_its_rule_and_neither_status_nor_duration,
            handoffs_reach_only_their_endpoint_and_a_rotation_without_one_writes_nothing,
            lifecycle_candidates_are_the_tokens_with_something_coming,
            notices_are_recorded_once_per_token_kind_and_instant,
            inactivity_disabling_yields_to_a_use_it_did_not_see,
            revocation_with_descendants_takes_the_management_lineage_only,
            a_revoked_parent_mints_nothing,
            password_confirmations_are_recorded_with_their_event,
            a_session_is_found_with_its_membership_until_that_ends,
            an_organizations_directory_holds_all_of_its_own_and_nothing_else,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                if let Some(backend) = $make().await {
                    $crate::cases::$case($crate::TestBackend::store(&backend)).await;
                    $crate::TestBackend::cleanup(backend).await;
                }
            }
        )*
    };
}

/// Whether this run is CI, where a missing database is a failure, not a skip.
pub fn running_under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}
