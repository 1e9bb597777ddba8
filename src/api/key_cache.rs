//! API keys and companies' data versions as last read, reused while no
//! commit could have changed them: most requests check their key without a
//! database read.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};

use crate::store::{Generation, Store, StoreError};

/// Most keys, and most companies' data versions, the cache holds (each);
/// when full it starts again empty.
const MOST_KEPT: usize = 100_000;

/// A key as checked on every request: its secret's hash, and whether it is
/// revoked.
#[derive(Debug, Clone)]
pub struct Key {
    pub secret_hash: String,
    pub revoked: bool,
}

/// API keys and companies' data versions as read from the database, each
/// with the generation it was read at (`Changes`).
///
/// - A key is reused while no commit that may change keys came since, so a
///   revocation or a new secret is seen by the very next request. On
///   PostgreSQL a batch of connection events does not make the key be read
///   again; on SQLite the watcher cannot tell what another connection
///   committed, so within 50 ms it moves the key generation on too.
/// - A data version is reused while nothing at all was committed since; a
///   History read notes the version it read, so the reads after a change
///   find their kept answers again.
///
/// The secret is still checked against the stored hash on every request.
/// Keys found not to exist are kept too (only their names, until a key
/// changes), so a presented unknown key costs what a known one does rather
/// than a database read: the time of an answer does not tell which keys
/// exist.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<String, (u64, Key)>>,
    unknown: RwLock<HashMap<String, u64>>,
    versions: RwLock<HashMap<i64, (u64, i64)>>,
}

impl KeyCache {
    /// The key, and the company's data version if it is known unchanged.
    pub async fn get(
        &self,
        store: &Store,
        company_id: i64,
        api_key: &str,
    ) -> Result<Option<(Key, Option<i64>)>, StoreError> {
        // The generations are taken before the read: a commit that lands
        // while the key is being read makes the kept copy stale at once.
        // They include every commit the client could know of (another
        // node's too), so what is reused is never older than that.
        let generation = store.changes().caught_up().await;
        if let Some(generation) = generation
            && let Some((kept_at, key)) = read(&self.keys).get(api_key)
            && *kept_at == generation.keys
        {
            let version = read(&self.versions)
                .get(&company_id)
                .filter(|(kept_at, _)| *kept_at == generation.data)
                .map(|&(_, version)| version);
            return Ok(Some((key.clone(), version)));
        }
        if let Some(generation) = generation
            && read(&self.unknown).get(api_key) == Some(&generation.keys)
        {
            return Ok(None);
        }
        let Some(stored) = store.api_key(company_id, api_key).await? else {
            if let Some(generation) = generation {
                keep(&self.unknown, api_key.to_owned(), generation.keys);
            }
            return Ok(None);
        };
        let key = Key {
            secret_hash: stored.secret_hash,
            revoked: stored.revoked,
        };
        if let Some(generation) = generation {
            keep(
                &self.keys,
                api_key.to_owned(),
                (generation.keys, key.clone()),
            );
            self.note_version(company_id, Some(generation), stored.data_version);
        }
        Ok(Some((key, Some(stored.data_version))))
    }

    /// Notes the company's data version as read at `generation` (taken
    /// before the read). Of two reads at the same generation (another
    /// node's commit still on its way), the newer version stays.
    pub fn note_version(&self, company_id: i64, generation: Option<Generation>, version: i64) {
        let Some(generation) = generation else {
            return;
        };
        if read(&self.versions)
            .get(&company_id)
            .is_some_and(|&(kept_at, kept)| kept_at == generation.data && kept >= version)
        {
            return;
        }
        keep(&self.versions, company_id, (generation.data, version));
    }
}

fn read<K, V>(map: &RwLock<HashMap<K, V>>) -> std::sync::RwLockReadGuard<'_, HashMap<K, V>> {
    map.read().unwrap_or_else(PoisonError::into_inner)
}

fn keep<K: Eq + Hash, V>(map: &RwLock<HashMap<K, V>>, key: K, value: V) {
    let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
    if map.len() >= MOST_KEPT {
        map.clear();
    }
    map.insert(key, value);
}
