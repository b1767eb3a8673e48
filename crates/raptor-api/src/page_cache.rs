//! Encoded answers kept by content tag, so a page asked for again is served from memory.
//!
//! A tag names content (see `raptor_app::history::Resolved::tag`): whoever holds the same tag
//! would encode the same bytes, so an entry never goes stale; it only ages out, oldest first,
//! once the cache holds [`MAX_BYTES`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use axum::body::Bytes;

/// The most body bytes kept.
const MAX_BYTES: usize = 16 << 20;

/// Bodies by content tag.
#[derive(Debug, Default)]
pub(crate) struct PageCache {
    inner: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    bodies: HashMap<String, Bytes>,
    oldest_first: VecDeque<String>,
    bytes: usize,
}

impl PageCache {
    /// The body kept under `tag`.
    pub(crate) fn get(&self, tag: &str) -> Option<Bytes> {
        let kept = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        kept.bodies.get(tag).cloned()
    }

    /// Keeps `body` under `tag`, letting the oldest bodies go to stay within [`MAX_BYTES`].
    pub(crate) fn put(&self, tag: &str, body: Bytes) {
        if body.len() > MAX_BYTES {
            return;
        }
        let mut kept = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.bodies.contains_key(tag) {
            return;
        }
        while kept.bytes + body.len() > MAX_BYTES {
            let Some(old) = kept.oldest_first.pop_front() else {
                break;
            };
            if let Some(gone) = kept.bodies.remove(&old) {
                kept.bytes -= gone.len();
            }
        }
        kept.bytes += body.len();
        kept.oldest_first.push_back(tag.to_owned());
        kept.bodies.insert(tag.to_owned(), body);
    }
}

/// Whether an `If-None-Match` header value names `etag` (weak comparison, RFC 9110 13.1.2).
pub(crate) fn none_match_names(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_lists() {
        assert!(none_match_names("\"a\"", "\"a\""));
        assert!(none_match_names("W/\"a\"", "\"a\""));
        assert!(none_match_names("\"x\", W/\"a\"", "\"a\""));
        assert!(none_match_names("*", "\"a\""));
        assert!(!none_match_names("\"ab\"", "\"a\""));
        assert!(!none_match_names("", "\"a\""));
    }

    #[test]
    fn the_oldest_bodies_go_first_once_full() {
        let cache = PageCache::default();
        let big = Bytes::from(vec![0; MAX_BYTES / 2]);
        cache.put("one", big.clone());
        cache.put("two", big.clone());
        assert!(cache.get("one").is_some());
        cache.put("three", big);
        assert!(
            cache.get("one").is_none(),
            "the oldest stays past the limit"
        );
        assert!(cache.get("two").is_some() && cache.get("three").is_some());
    }
}
