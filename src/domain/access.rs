//! The access audit's records and their chain (SPEC §15, docs/audit.md):
//! what one read or change of a company's data is recorded as, the
//! HMAC-SHA256 that links each record to the one before it, and the walk
//! that finds the first record edited, deleted, inserted or reordered.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::Timestamp;

/// The chain of what names no single company (an operator's list of
/// unmatched webhooks, a batch of connection events, a company's creation).
pub const PLATFORM_CHAIN: i64 = 0;

/// Who acted: `ApiKey` (the key id), `Operator`, `Console` (the signed-in
/// person's id) or `Cli` (the command).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub kind: &'static str,
    pub id: String,
}

impl Actor {
    pub fn api_key(key: &str) -> Self {
        Self {
            kind: "ApiKey",
            id: key.to_owned(),
        }
    }

    pub fn operator() -> Self {
        Self {
            kind: "Operator",
            id: "operator".to_owned(),
        }
    }

    pub fn console(person_id: i64) -> Self {
        Self {
            kind: "Console",
            id: person_id.to_string(),
        }
    }

    pub fn cli(command: &str) -> Self {
        Self {
            kind: "Cli",
            id: command.to_owned(),
        }
    }
}

/// One access record. `seq` and `hash` are the chain's: 0 and empty until
/// the record is appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessRecord {
    pub company_id: i64,
    pub seq: i64,
    pub at: Timestamp,
    /// `ApiKey`, `Operator`, `Console` or `Cli`.
    pub actor_kind: String,
    pub actor: String,
    pub method: String,
    /// The matched route template (`/session/{id}`), or the CLI command.
    pub route: String,
    /// The route's path ids, `name=value` joined by `&` (`id=105236`).
    pub ids: String,
    /// The HTTP status answered (the CLI records 200 for what it did).
    pub status: i64,
    /// The client's IP address; empty when unknown (the CLI).
    pub client: String,
    pub hash: String,
}

impl AccessRecord {
    pub fn new(company_id: i64, at: Timestamp, actor: &Actor) -> Self {
        Self {
            company_id,
            seq: 0,
            at,
            actor_kind: actor.kind.to_owned(),
            actor: actor.id.clone(),
            method: String::new(),
            route: String::new(),
            ids: String::new(),
            status: 200,
            client: String::new(),
            hash: String::new(),
        }
    }

    /// The content the chain covers, in one unambiguous form: a JSON array
    /// of every field but the hash.
    fn canonical(&self, seq: i64) -> String {
        serde_json::json!([
            "v1",
            self.company_id,
            seq,
            self.at.as_micros(),
            self.actor_kind,
            self.actor,
            self.method,
            self.route,
            self.ids,
            self.status,
            self.client,
        ])
        .to_string()
    }
}

/// A company's chain as stored: its head and its checkpoint (the last
/// record pruned; `base_seq` 0 and empty hashes before any pruning).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessChain {
    pub company_id: i64,
    pub last_seq: i64,
    pub last_hash: String,
    pub base_seq: i64,
    pub base_hash: String,
    pub base_mac: String,
}

impl AccessChain {
    pub fn empty(company_id: i64) -> Self {
        Self {
            company_id,
            last_seq: 0,
            last_hash: String::new(),
            base_seq: 0,
            base_hash: String::new(),
            base_mac: String::new(),
        }
    }
}

/// The export's lines of the audit (after the journal's): the key the
/// database generated (when it did), each chain, then every record, as
/// stored, so an import carries the chain unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum AccessLine {
    AccessKey(GeneratedKey),
    AccessChain(AccessChain),
    Access(AccessRecord),
}

/// The chain key a database generated for itself (docs/audit.md, "The key").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GeneratedKey {
    pub generated_key: String,
}

impl AccessLine {
    /// The line of a log line's text, if it is one of the audit's.
    pub fn parse(text: &str) -> Option<Result<Self, String>> {
        // Only a line that names an audit type pays for a second parse.
        if !text.contains("\"Access") {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let kind = value.get("Type")?.as_str()?;
        if !["Access", "AccessChain", "AccessKey"].contains(&kind) {
            return None;
        }
        Some(serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            format!("{path}: {}", error.into_inner())
        }))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an audit line serializes")
    }
}

/// The HMAC-SHA256 key of every chain. Never printed.
#[derive(Clone)]
pub struct ChainKey(Vec<u8>);

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(***)")
    }
}

impl ChainKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        for part in parts {
            mac.update(part);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// The hash of `record` at `seq` after a record whose hash is `previous`.
    pub fn link(&self, previous: &str, record: &AccessRecord, seq: i64) -> String {
        self.mac(&[previous.as_bytes(), b"\n", record.canonical(seq).as_bytes()])
    }

    /// Seals a checkpoint, so a pruning cannot be faked without the key.
    pub fn seal(&self, company_id: i64, base_seq: i64, base_hash: &str) -> String {
        self.mac(&[format!("checkpoint\n{company_id}\n{base_seq}\n{base_hash}").as_bytes()])
    }

    /// Gives `records` (in order) the next numbers and hashes of `chain`,
    /// and moves its head on.
    pub fn append(&self, chain: &mut AccessChain, records: &mut [AccessRecord]) {
        for record in records {
            chain.last_seq += 1;
            record.seq = chain.last_seq;
            record.company_id = chain.company_id;
            record.hash = self.link(&chain.last_hash, record, record.seq);
            chain.last_hash.clone_from(&record.hash);
        }
    }
}

/// What is wrong with the first record of a chain that does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tampering {
    Edited,
    Deleted,
    Inserted,
    Reordered,
    /// The checkpoint pruning left was altered.
    Checkpoint,
}

/// The first record of a chain that does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    pub company_id: i64,
    pub seq: i64,
    pub at: Option<Timestamp>,
    pub tampering: Tampering,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Break {
            company_id, seq, ..
        } = self;
        let at = self.at.map(|at| format!(" ({at})")).unwrap_or_default();
        match self.tampering {
            Tampering::Edited => write!(
                f,
                "company {company_id}: record {seq}{at} was edited: its content does not match its hash"
            ),
            Tampering::Deleted => write!(
                f,
                "company {company_id}: record {seq} was deleted: the chain goes on without it"
            ),
            Tampering::Inserted => write!(
                f,
                "company {company_id}: record {seq}{at} was inserted: it is not part of the chain"
            ),
            Tampering::Reordered => write!(
                f,
                "company {company_id}: record {seq}{at} was reordered: it holds another position's record"
            ),
            Tampering::Checkpoint => write!(
                f,
                "company {company_id}: the checkpoint before record {} was altered",
                seq + 1
            ),
        }
    }
}

/// Walks one chain's records in order, one at a time, holding one back to
/// tell an edit from a reordering.
pub struct Verifier<'k> {
    key: &'k ChainKey,
    chain: AccessChain,
    previous: String,
    next_seq: i64,
    held: Option<AccessRecord>,
    checked: u64,
}

impl<'k> Verifier<'k> {
    pub fn new(key: &'k ChainKey, chain: AccessChain) -> Result<Self, Break> {
        let sealed = if chain.base_seq == 0 {
            chain.base_hash.is_empty()
        } else {
            key.seal(chain.company_id, chain.base_seq, &chain.base_hash) == chain.base_mac
        };
        if !sealed {
            return Err(Break {
                company_id: chain.company_id,
                seq: chain.base_seq,
                at: None,
                tampering: Tampering::Checkpoint,
            });
        }
        Ok(Self {
            key,
            previous: chain.base_hash.clone(),
            next_seq: chain.base_seq + 1,
            chain,
            held: None,
            checked: 0,
        })
    }

    /// The next record, in `seq` order.
    pub fn push(&mut self, record: AccessRecord) -> Result<(), Break> {
        if let Some(held) = self.held.take() {
            self.check(&held, Some(&record))?;
        }
        self.held = Some(record);
        Ok(())
    }

    /// After the last record: how many verified.
    pub fn finish(mut self) -> Result<u64, Break> {
        if let Some(held) = self.held.take() {
            self.check(&held, None)?;
        }
        let company_id = self.chain.company_id;
        if self.next_seq <= self.chain.last_seq {
            return Err(Break {
                company_id,
                seq: self.next_seq,
                at: None,
                tampering: Tampering::Deleted,
            });
        }
        if self.previous != self.chain.last_hash {
            return Err(Break {
                company_id,
                seq: self.chain.last_seq,
                at: None,
                tampering: Tampering::Edited,
            });
        }
        Ok(self.checked)
    }

    fn check(&mut self, record: &AccessRecord, next: Option<&AccessRecord>) -> Result<(), Break> {
        let broken = |seq: i64, at: Option<Timestamp>, tampering| Break {
            company_id: self.chain.company_id,
            seq,
            at,
            tampering,
        };
        if record.seq > self.chain.last_seq || record.seq < self.next_seq {
            return Err(broken(record.seq, Some(record.at), Tampering::Inserted));
        }
        if record.seq > self.next_seq {
            return Err(broken(self.next_seq, None, Tampering::Deleted));
        }
        let hash = self.key.link(&self.previous, record, record.seq);
        if hash == record.hash && record.company_id == self.chain.company_id {
            self.previous = hash;
            self.next_seq += 1;
            self.checked += 1;
            return Ok(());
        }
        let at = Some(record.at);
        if let Some(next) = next {
            // The next row is the record that belongs here: the two swapped.
            if self.key.link(&self.previous, next, record.seq) == next.hash {
                return Err(broken(record.seq, at, Tampering::Reordered));
            }
            // The chain goes on from this row's hash: its content changed.
            if self.key.link(&record.hash, next, next.seq) == next.hash {
                return Err(broken(record.seq, at, Tampering::Edited));
            }
        } else if record.seq == self.chain.last_seq && record.hash == self.chain.last_hash {
            return Err(broken(record.seq, at, Tampering::Edited));
        }
        Err(broken(record.seq, at, Tampering::Inserted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain_of(key: &ChainKey, count: i64) -> (AccessChain, Vec<AccessRecord>) {
        let mut chain = AccessChain::empty(7);
        let mut records: Vec<AccessRecord> = (0..count)
            .map(|n| {
                let mut record =
                    AccessRecord::new(7, Timestamp::from_micros(n * 1_000), &Actor::operator());
                record.method = "GET".into();
                record.route = "/session/{id}".into();
                record.ids = format!("id={n}");
                record
            })
            .collect();
        key.append(&mut chain, &mut records);
        (chain, records)
    }

    fn verify(
        key: &ChainKey,
        chain: AccessChain,
        records: Vec<AccessRecord>,
    ) -> Result<u64, Break> {
        let mut verifier = Verifier::new(key, chain)?;
        for record in records {
            verifier.push(record)?;
        }
        verifier.finish()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let key = ChainKey::new(b"k".to_vec());
        let (chain, records) = chain_of(&key, 5);
        assert_eq!(verify(&key, chain, records), Ok(5));
    }

    #[test]
    fn names_the_first_record_tampered_with() {
        let key = ChainKey::new(b"k".to_vec());
        let kind = |result: Result<u64, Break>| result.map_err(|b| (b.seq, b.tampering));

        let (chain, mut records) = chain_of(&key, 5);
        records[2].status = 404;
        assert_eq!(
            kind(verify(&key, chain, records)),
            Err((3, Tampering::Edited))
        );

        let (chain, mut records) = chain_of(&key, 5);
        records.remove(1);
        assert_eq!(
            kind(verify(&key, chain, records)),
            Err((2, Tampering::Deleted))
        );

        let (chain, mut records) = chain_of(&key, 5);
        records.pop();
        assert_eq!(
            kind(verify(&key, chain, records)),
            Err((5, Tampering::Deleted))
        );

        let (chain, mut records) = chain_of(&key, 5);
        let mut extra = records[4].clone();
        extra.seq = 6;
        records.push(extra);
        assert_eq!(
            kind(verify(&key, chain, records)),
            Err((6, Tampering::Inserted))
        );

        let (chain, mut records) = chain_of(&key, 5);
        records.swap(1, 2);
        records[1].seq = 2;
        records[2].seq = 3;
        assert_eq!(
            kind(verify(&key, chain, records)),
            Err((2, Tampering::Reordered))
        );

        let (chain, records) = chain_of(&key, 5);
        let other = ChainKey::new(b"other".to_vec());
        assert_eq!(
            kind(verify(&other, chain, records)),
            Err((1, Tampering::Inserted))
        );
    }

    #[test]
    fn a_sealed_checkpoint_lets_the_rest_verify() {
        let key = ChainKey::new(b"k".to_vec());
        let (mut chain, mut records) = chain_of(&key, 5);
        let pruned: Vec<_> = records.drain(..2).collect();
        chain.base_seq = 2;
        chain.base_hash.clone_from(&pruned[1].hash);
        chain.base_mac = key.seal(7, 2, &chain.base_hash);
        assert_eq!(verify(&key, chain.clone(), records.clone()), Ok(3));
        chain.base_seq = 3;
        chain.base_hash.clone_from(&records[0].hash);
        assert_eq!(
            verify(&key, chain, records[1..].to_vec()).map_err(|b| b.tampering),
            Err(Tampering::Checkpoint)
        );
    }
}
