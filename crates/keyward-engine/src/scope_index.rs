//! Scope checks that never leave a token's cache entry.
//!
//! Reading a token's scope strings costs three dependent cache misses (the
//! record, its vector, each string). Instead, every scope string a cached
//! token holds is interned to a small number, and the entry keeps those
//! numbers inline. Required scopes are prepared once into, for each of them,
//! the numbers of every scope that would grant it (`scope::grantors`), so a
//! check is a handful of integer comparisons on memory already loaded.
//!
//! Numbers are handed out in order and never reused, so a preparation made
//! when `generation` numbers existed is exact for every entry whose numbers
//! are all below it. An entry holding a newer number (a scope first seen
//! after the preparation) or too many scopes to keep inline is judged from
//! its record instead: slower, never wrong.
//!
//! `/v1/verify` prepares its required scopes on every request, and a
//! preparation allocates a string per grantor; but a verifier asks for the
//! same few lists again and again, so preparations are remembered per list
//! and reused while no new number has been handed out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

use keyward_core::scope;

/// Most distinct scope strings interned; past this, new ones are judged from
/// the record. Bounds memory against a flood of distinct scopes.
const MAX_INTERNED: usize = u16::MAX as usize;

/// Most required-scope lists whose preparation is remembered; past this
/// the memory starts over. Bounds it against callers asking for ever new
/// lists.
const MAX_REMEMBERED: usize = 1024;

/// Scope strings to their numbers.
#[derive(Default)]
pub(crate) struct ScopeInterner {
    numbers: RwLock<HashMap<Box<str>, u16>>,
    /// How many numbers exist, readable without the lock.
    generation: AtomicUsize,
    /// Preparations by required list, each valid at its generation only.
    remembered: RwLock<HashMap<Vec<String>, Remembered>>,
}

/// A preparation's numbers, as [`RequiredScopes`] holds them.
struct Remembered {
    generation: usize,
    grantor_numbers: Vec<u16>,
    ends: Vec<usize>,
}

impl ScopeInterner {
    /// The number of `scope`, assigning one if it is new; `None` once full.
    pub(crate) fn intern(&self, scope: &str) -> Option<u16> {
        if let Some(number) = self.lookup(scope) {
            return Some(number);
        }
        let mut numbers = self.numbers.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(number) = numbers.get(scope) {
            return Some(*number);
        }
        let next = numbers.len();
        if next >= MAX_INTERNED {
            return None;
        }
        let number = u16::try_from(next).ok()?;
        numbers.insert(scope.into(), number);
        self.generation.store(numbers.len(), Ordering::Release);
        Some(number)
    }

    fn lookup(&self, scope: &str) -> Option<u16> {
        self.numbers.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(scope).copied()
    }

    /// Prepares `names` for checking (see the module docs).
    pub(crate) fn prepare(&self, names: Vec<String>) -> RequiredScopes {
        if names.is_empty() {
            return RequiredScopes { names, ..NO_SCOPES.clone() };
        }
        let generation = self.generation.load(Ordering::Acquire);
        {
            let remembered = self.remembered.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(hit) = remembered.get(names.as_slice()).filter(|hit| hit.generation == generation) {
                let (grantor_numbers, ends) = (hit.grantor_numbers.clone(), hit.ends.clone());
                return RequiredScopes { names, grantor_numbers, ends, generation };
            }
        }
        let numbers = self.numbers.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut grantor_numbers = Vec::new();
        let mut ends = Vec::with_capacity(names.len());
        for name in &names {
            grantor_numbers.extend(scope::grantors(name).iter().filter_map(|grantor| numbers.get(grantor.as_str())));
            ends.push(grantor_numbers.len());
        }
        let generation = numbers.len();
        drop(numbers);
        // Remembering is an optimisation: when another thread holds the
        // lock (a caller flooding new lists, say), skip it rather than queue
        // every verification behind it.
        if let Ok(mut remembered) = self.remembered.try_write() {
            if remembered.len() >= MAX_REMEMBERED {
                remembered.clear();
            }
            let entry = Remembered { generation, grantor_numbers: grantor_numbers.clone(), ends: ends.clone() };
            remembered.insert(names.clone(), entry);
        }
        RequiredScopes { names, grantor_numbers, ends, generation }
    }
}

/// Scopes a verification requires, prepared against one engine with
/// [`crate::Verifier::require_scopes`]. Prepare once (per route, say) and reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredScopes {
    names: Vec<String>,
    /// For each required scope in order, the numbers of its grantors that
    /// were interned at preparation, as consecutive runs ending at `ends`.
    grantor_numbers: Vec<u16>,
    ends: Vec<usize>,
    generation: usize,
}

/// Requires nothing.
pub(crate) static NO_SCOPES: RequiredScopes =
    RequiredScopes { names: Vec::new(), grantor_numbers: Vec::new(), ends: Vec::new(), generation: 0 };

impl RequiredScopes {
    /// The scope strings, as given.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether nothing is required.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether a token holding exactly the scopes numbered `held` grants
    /// every required scope; `None` when a number is newer than this
    /// preparation and the answer must come from the scope strings.
    #[inline]
    pub(crate) fn granted_by(&self, held: &[u16]) -> Option<bool> {
        if self.ends.is_empty() {
            return Some(true);
        }
        if held.iter().any(|number| usize::from(*number) >= self.generation) {
            return None;
        }
        let mut start = 0;
        for &end in &self.ends {
            let grantors = &self.grantor_numbers[start..end];
            if !held.iter().any(|number| grantors.contains(number)) {
                return Some(false);
            }
            start = end;
        }
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn held_numbers(interner: &ScopeInterner, held: &[String]) -> Vec<u16> {
        held.iter().filter_map(|scope| interner.intern(scope)).collect()
    }

    #[test]
    fn a_scope_first_seen_after_preparation_defers_to_the_strings() {
        let interner = ScopeInterner::default();
        let required = interner.prepare(vec!["invoices:read".into()]);
        let held = held_numbers(&interner, &["invoices:*".into()]);
        assert_eq!(required.granted_by(&held), None, "prepared before invoices:* had a number");
        let again = interner.prepare(vec!["invoices:read".into()]);
        assert_eq!(again.granted_by(&held), Some(true));
        assert_eq!(NO_SCOPES.granted_by(&[]), Some(true));
    }

    #[test]
    fn a_remembered_preparation_is_reused_until_a_new_scope_is_numbered() {
        let interner = ScopeInterner::default();
        let held = held_numbers(&interner, &["invoices:read".into()]);
        let first = interner.prepare(vec!["invoices:read".into()]);
        let again = interner.prepare(vec!["invoices:read".into()]);
        assert_eq!(first, again);
        assert_eq!(again.granted_by(&held), Some(true));
        // A wildcard numbered later grants the same list: the remembered
        // preparation is stale and is made again.
        let wildcard = held_numbers(&interner, &["invoices:*".into()]);
        let fresh = interner.prepare(vec!["invoices:read".into()]);
        assert_eq!(fresh.granted_by(&wildcard), Some(true));
        assert_eq!(again.granted_by(&wildcard), None, "the old preparation defers to the strings");
        for n in 0..=MAX_REMEMBERED {
            interner.prepare(vec![format!("scope{n}:read")]);
        }
        assert!(interner.remembered.read().map_or(0, |remembered| remembered.len()) <= MAX_REMEMBERED);
    }

    proptest! {
        #[test]
        fn inline_answers_agree_with_the_scope_rules(
            earlier in prop::collection::vec("[ab]:[ab*](@[xy](/[xy*])?)?", 0..4),
            held in prop::collection::vec("[ab]:[ab*](@[xy](/[xy*])?)?", 0..5),
            required in prop::collection::vec("[ab]:[ab*](@[xy](/[xy*])?)?", 0..4),
        ) {
            let interner = ScopeInterner::default();
            for scope in &earlier {
                interner.intern(scope);
            }
            let prepared_early = interner.prepare(required.clone());
            let numbers = held_numbers(&interner, &held);
            let prepared_late = interner.prepare(required.clone());
            let expected = scope::grants_all(&held, &required);
            prop_assert_eq!(prepared_late.granted_by(&numbers), Some(expected));
            if let Some(answer) = prepared_early.granted_by(&numbers) {
                prop_assert_eq!(answer, expected);
            }
        }
    }
}
