//! Keyward's pure core: everything about tokens that needs no I/O.
//!
//! The token format and its checksum, digests, scopes, identifiers, the
//! domain model shared by the store, engine and server, and the two seams
//! that make the rest testable without sleeping or guessing: a [`Clock`]
//! and a [`SecureRng`]. Nothing here touches a disk, a socket or a global.

pub mod audit;
pub mod auth_header;
pub mod base62;
pub mod clock;
pub mod digest;
pub mod egress;
pub mod id;
pub mod ip;
pub mod lifecycle;
pub mod limits;
pub mod model;
pub mod policy;
pub mod rng;
pub mod role;
pub mod scope;
pub mod secret;
pub mod token;
pub mod validate;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock};
pub use digest::TokenDigest;
pub use rng::{OsRng, SecureRng, SeededRng};
pub use secret::SecretToken;
pub use token::{Environment, ParsedToken, TokenFormatError, TokenPrefix};
