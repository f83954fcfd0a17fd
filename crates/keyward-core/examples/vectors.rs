//! Prints the token-format test vectors published in `docs/token-format.md`.
use keyward_core::{token, Environment, SeededRng, TokenPrefix};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (seed, prefix, environment) in
        [(1, "kw", Environment::Live), (2, "kw", Environment::Test), (3, "pay", Environment::Live)]
    {
        let text = token::generate(&TokenPrefix::new(prefix)?, environment, &SeededRng::new(seed))?;
        let checked = &text.expose()[..text.expose().len() - 6];
        println!("{}  crc32({checked})={:#010x}", text.expose(), crc32fast::hash(checked.as_bytes()));
    }
    Ok(())
}
