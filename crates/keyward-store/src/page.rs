//! Keyset pagination. Lists are ordered newest first by `(created_at, id)`
//! (token lists may ask for another order, see `TokenOrder`);
//! a cursor is the position of the last item returned, so pages stay stable
//! while rows are inserted and no query ever uses OFFSET.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The largest page a caller may ask for; larger requests are clamped.
pub const MAX_PAGE_SIZE: u32 = 200;
/// The longest cursor accepted: room for a 64-character id and a token
/// name of 200 characters of up to 4 bytes each, base64-encoded.
const MAX_CURSOR_CHARS: usize = 1_200;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// A position in a list: the sort key of the last item seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Microseconds of the last item's time (or other numeric sort key).
    pub micros: i64,
    /// The last item's id.
    pub id: String,
    /// The last item's text sort key, for lists ordered by text (a token
    /// list by name); `None` otherwise.
    pub text: Option<String>,
}

impl Cursor {
    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        match &self.text {
            None => URL_SAFE_NO_PAD.encode(format!("{}.{}", self.micros, self.id)),
            // Ids hold no `.`, so everything after the second one is the text.
            Some(text) => URL_SAFE_NO_PAD.encode(format!("{}.{}.{text}", self.micros, self.id)),
        }
    }

    /// A cursor at a time (or other numeric key) and id.
    pub fn at(micros: i64, id: &str) -> Self {
        Self { micros, id: id.to_owned(), text: None }
    }

    /// Parses a client-supplied cursor; `None` for anything malformed.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() > MAX_CURSOR_CHARS {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let (micros, rest) = raw.split_once('.')?;
        let (id, key) = match rest.split_once('.') {
            Some((id, key)) => (id, Some(key.to_owned())),
            None => (rest, None),
        };
        let valid_id = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_id {
            return None;
        }
        Some(Cursor { micros: micros.parse().ok()?, id: id.to_owned(), text: key })
    }
}

/// Which page to read.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items per page, 1..=[`MAX_PAGE_SIZE`].
    pub limit: u32,
    /// Start after this position; `None` for the first page.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// A request with the size clamped into range.
    pub fn new(limit: Option<u32>, after: Option<Cursor>) -> Self {
        Self { limit: limit.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE), after }
    }

    /// The first page of the default size.
    pub fn first() -> Self {
        Self::new(None, None)
    }

    /// How many rows a backend should fetch: one more than the page, to know
    /// whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `fetch_limit` rows, using `key` to make the
    /// cursor from the last item kept.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, key: impl Fn(&T) -> Cursor) -> Self {
        let has_more = rows.len() > request.limit as usize;
        rows.truncate(request.limit as usize);
        let next = if has_more { rows.last().map(key) } else { None };
        Self { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor::at(1_700_000_000_123_456, "tok_abc");
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        let named = Cursor { micros: -1, id: "tok_abc".into(), text: Some("billing. worker ü".into()) };
        assert_eq!(Cursor::decode(&named.encode()), Some(named));
        for garbage in ["", "!!!", "bm9kb3Q", "MTIzLg", &"A".repeat(2000)] {
            assert_eq!(Cursor::decode(garbage), None, "{garbage}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_cursor_round_trips(
            micros in proptest::num::i64::ANY,
            id in "[A-Za-z0-9_]{1,64}",
            text in proptest::option::of(".{0,200}"),
        ) {
            let cursor = Cursor { micros, id, text };
            proptest::prop_assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(text in ".{0,300}") {
            let _ = Cursor::decode(&text);
        }
    }

    #[test]
    fn page_sizes_are_clamped() {
        assert_eq!(PageRequest::new(Some(0), None).limit, 1);
        assert_eq!(PageRequest::new(Some(10_000), None).limit, MAX_PAGE_SIZE);
        assert_eq!(PageRequest::new(None, None).limit, DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn from_rows_emits_a_cursor_only_when_more_rows_exist() {
        let request = PageRequest::new(Some(2), None);
        let key = |n: &i64| Cursor::at(*n, "x");
        let full = Page::from_rows(vec![3, 2, 1], &request, key);
        assert_eq!(full.items, vec![3, 2]);
        assert_eq!(full.next.map(|c| c.micros), Some(2));
        let last = Page::from_rows(vec![1], &request, key);
        assert!(last.next.is_none());
    }
}
