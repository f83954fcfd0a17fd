//! Code the SQL backends (`keyward-store-sqlite`, `keyward-store-postgres`)
//! share, so that what does not depend on the dialect is written once: the
//! schemas hold the same columns, and only SQL text and how some values
//! travel (JSON as text or `jsonb`, small counts as 64- or 32-bit integers)
//! differ. A backend crate keeps its SQL and its type bindings.

pub mod rows;
