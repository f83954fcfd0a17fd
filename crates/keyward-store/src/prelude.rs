//! Everything a caller of a store needs in scope: the split traits (whose
//! methods are only callable on `dyn Store` with them imported) and the
//! query types they take.

pub use crate::{AccountStore, AuditStore, OrganizationStore, Store, StoreError, TokenStore, UsageStore, WebhookStore};
