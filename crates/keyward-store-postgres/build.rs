//! `sqlx::migrate!` embeds `migrations/` at compile time; without this a
//! migration added alone (no Rust change) would not reach the binary.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
