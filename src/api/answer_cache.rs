//! Encoded History answers, kept per company and request while the
//! company's data version stays the same. Every change to a company's data
//! moves its version on (store::journal), so a kept answer is served only
//! while it is still the answer; a repeated read then costs one lookup of
//! the version instead of a range scan and its encoding (bench/README.md, "Cold reads").
//!
//! Bounded: at most `max_bytes` in all, and no single answer larger than an
//! eighth of that (larger ones are streamed as always and not kept); the
//! least recently used answers make room for new ones.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;

pub struct AnswerCache {
    max_bytes: usize,
    max_entry: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(i64, String), Entry>,
    bytes: usize,
    clock: u64,
}

struct Entry {
    data_version: i64,
    body: Bytes,
    used: u64,
}

impl AnswerCache {
    /// `None` when `max_bytes` is 0: no answer is kept.
    pub fn new(max_bytes: usize) -> Option<Self> {
        (max_bytes > 0).then(|| Self {
            max_bytes,
            max_entry: max_bytes / 8,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The largest answer that is kept.
    pub fn max_entry(&self) -> usize {
        self.max_entry
    }

    /// The answer to `key` for the company at exactly `data_version`.
    pub fn get(&self, company_id: i64, key: &str, data_version: i64) -> Option<Bytes> {
        let mut inner = self.inner.lock().expect("answer cache lock");
        inner.clock += 1;
        let clock = inner.clock;
        let entry_key = (company_id, key.to_owned());
        let entry = inner.entries.get_mut(&entry_key)?;
        if entry.data_version == data_version {
            entry.used = clock;
            return Some(entry.body.clone());
        }
        if entry.data_version < data_version {
            // Outdated for good: versions only move on.
            let removed = inner.entries.remove(&entry_key).expect("present");
            inner.bytes -= removed.body.len();
        }
        None
    }

    /// The size of the answer kept for `key`, whatever its version.
    pub fn kept_size(&self, company_id: i64, key: &str) -> Option<usize> {
        let inner = self.inner.lock().expect("answer cache lock");
        inner
            .entries
            .get(&(company_id, key.to_owned()))
            .map(|entry| entry.body.len())
    }

    /// Keeps the answer to `key` at `data_version`, unless a newer one is
    /// kept already or it is too large.
    pub fn put(&self, company_id: i64, key: String, data_version: i64, body: Bytes) {
        if body.len() > self.max_entry {
            return;
        }
        let mut inner = self.inner.lock().expect("answer cache lock");
        inner.clock += 1;
        let clock = inner.clock;
        let entry_key = (company_id, key);
        if let Some(existing) = inner.entries.get(&entry_key) {
            if existing.data_version >= data_version {
                return;
            }
            let length = existing.body.len();
            inner.bytes -= length;
            inner.entries.remove(&entry_key);
        }
        while inner.bytes + body.len() > self.max_bytes {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            let removed = inner.entries.remove(&oldest).expect("present");
            inner.bytes -= removed.body.len();
        }
        inner.bytes += body.len();
        inner.entries.insert(
            entry_key,
            Entry {
                data_version,
                body,
                used: clock,
            },
        );
    }

    /// Answers kept and their bytes, for the metrics and tests.
    pub fn size(&self) -> (usize, usize) {
        let inner = self.inner.lock().expect("answer cache lock");
        (inner.entries.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn an_answer_is_served_only_at_its_version() {
        let cache = AnswerCache::new(800).unwrap();
        cache.put(1, "q".into(), 5, bytes(10));
        assert_eq!(cache.get(1, "q", 5).unwrap().len(), 10);
        assert!(cache.get(2, "q", 5).is_none(), "another company");
        assert!(cache.get(1, "r", 5).is_none(), "another request");
        assert_eq!(cache.kept_size(1, "q"), Some(10));
        assert_eq!(cache.kept_size(1, "r"), None);
        assert!(cache.get(1, "q", 4).is_none(), "an older version");
        assert!(cache.get(1, "q", 6).is_none(), "a newer version");
        assert_eq!(cache.size(), (0, 0), "outdated answers are dropped");
    }

    #[test]
    fn an_older_answer_never_replaces_a_newer_one() {
        let cache = AnswerCache::new(800).unwrap();
        cache.put(1, "q".into(), 6, bytes(10));
        cache.put(1, "q".into(), 5, bytes(20));
        assert_eq!(cache.get(1, "q", 6).unwrap().len(), 10);
        cache.put(1, "q".into(), 7, bytes(30));
        assert_eq!(cache.get(1, "q", 7).unwrap().len(), 30);
        assert_eq!(cache.size(), (1, 30));
    }

    #[test]
    fn it_stays_within_its_bounds() {
        let cache = AnswerCache::new(800).unwrap();
        assert_eq!(cache.max_entry(), 100);
        cache.put(1, "big".into(), 1, bytes(101));
        assert!(cache.get(1, "big", 1).is_none(), "too large to keep");
        for n in 0..8 {
            cache.put(1, format!("q{n}"), 1, bytes(100));
        }
        assert!(
            cache.get(1, "q0", 1).is_some(),
            "q0 used, q1 now the oldest"
        );
        cache.put(1, "q8".into(), 1, bytes(100));
        assert_eq!(cache.size(), (8, 800));
        assert!(
            cache.get(1, "q1", 1).is_none(),
            "the least recently used made room"
        );
        assert!(cache.get(1, "q0", 1).is_some());
        assert!(cache.get(1, "q8", 1).is_some());
        assert!(AnswerCache::new(0).is_none());
    }
}
