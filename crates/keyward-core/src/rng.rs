//! The randomness seam. Token secrets and identifiers come from a
//! [`SecureRng`]: the OS CSPRNG in production, a seeded generator in tests
//! that need reproducible tokens (test vectors, benchmarks).

use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// A source of cryptographically secure random bytes.
pub trait SecureRng: Send + Sync + 'static {
    /// Fills `buffer` with random bytes. The OS generator does not fail on
    /// supported platforms once seeded; an error here is a broken host.
    fn fill(&self, buffer: &mut [u8]) -> Result<(), RngError>;
}

/// The operating system's CSPRNG could not produce bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RngError;

/// The operating system's CSPRNG (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

impl SecureRng for OsRng {
    fn fill(&self, buffer: &mut [u8]) -> Result<(), RngError> {
        getrandom::fill(buffer).map_err(|_| RngError)
    }
}

/// A deterministic generator (SHA-256 in counter mode) for tests and
/// benchmarks. Never use it to issue real tokens.
#[derive(Debug)]
pub struct SeededRng {
    state: Mutex<([u8; 32], u64)>,
}

impl SeededRng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let key: [u8; 32] = Sha256::digest(seed.to_le_bytes()).into();
        Self { state: Mutex::new((key, 0)) }
    }
}

impl SecureRng for SeededRng {
    fn fill(&self, buffer: &mut [u8]) -> Result<(), RngError> {
        let mut state = self.state.lock().map_err(|_| RngError)?;
        for chunk in buffer.chunks_mut(32) {
            let mut hasher = Sha256::new();
            hasher.update(state.0);
            hasher.update(state.1.to_le_bytes());
            state.1 += 1;
            let block = hasher.finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_rng_is_reproducible_and_seed_dependent() {
        let (mut a, mut b, mut c) = ([0u8; 40], [0u8; 40], [0u8; 40]);
        SeededRng::new(7).fill(&mut a).unwrap();
        SeededRng::new(7).fill(&mut b).unwrap();
        SeededRng::new(8).fill(&mut c).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn os_rng_produces_different_bytes_each_call() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        OsRng.fill(&mut a).unwrap();
        OsRng.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
