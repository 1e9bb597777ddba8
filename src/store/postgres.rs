//! PostgreSQL: row locks, taken by the first UPDATE of each use case, order
//! concurrent writers of the same company and session.

pub type Db = sqlx::Postgres;
pub(crate) const BEGIN_WRITE: &str = "BEGIN";
/// The tables of the schema, which an import writes and whose statistics it
/// refreshes. Named: a bare `ANALYZE` or `VACUUM` also takes the catalogs
/// every database of the server shares, and so waits for any open
/// transaction that analyzed them in another database (another import): an
/// import of the small benchmark stood 292 s in one (bench/README.md, "Importing"). A test holds the list to the migrations.
macro_rules! tables {
    () => {
        "companies, api_keys, support_agents, persons, person_emails, users, session_directory, \
         sessions, participations, calls, status_audit, journal, one_time_steps, provider_rooms, \
         provider_unmatched, access_audit, access_audit_chains, access_audit_settings, webhooks, \
         webhook_events, webhook_deliveries, webhook_attempts, webhook_marks, console_passwords, \
         console_links, console_sessions"
    };
}

/// Inside the import's transaction, ANALYZE sees the rows the import wrote.
pub(crate) const REFRESH_STATISTICS: Option<&str> = Some(concat!("ANALYZE ", tables!()));
/// An import rewrites each session row once per change it replays (its
/// derived fields, its last activity), leaving about two dead row versions
/// per live one until autovacuum comes: the small benchmark's busy month
/// read in 10.1 ms right after its import, in 5.6 to 7.1 ms once vacuumed.
/// The import vacuums the database when it has committed.
pub(crate) const AFTER_IMPORT: Option<&str> = Some(concat!("VACUUM (ANALYZE) ", tables!()));
/// Locks the selected rows one by one in id order, so two writers that
/// lock overlapping sets of companies never wait for each other in a cycle.
pub(crate) const LOCK_IN_ID_ORDER: &str = " ORDER BY company_id FOR UPDATE";
/// Delivered to the listeners of other nodes when the transaction commits
/// (the channel is `changes::CHANNEL`); `$1` says what it may have changed
/// (`changes::Touched::payload`).
pub(crate) const ANNOUNCE_CHANGE: Option<&str> =
    Some("SELECT pg_notify('session_ledger_changes', $1)");
/// Plain multi-row writes (see SQLite's `INSERT OR FAIL`, which PostgreSQL
/// has no need of).
pub(crate) const INSERT_MANY: &str = "INSERT INTO";
pub(crate) const UPDATE_MANY: &str = "UPDATE";

/// Ids and journal numbers come from sequences (`next_block`), which never
/// hold a lock across a transaction (a counter row would serialize every
/// writer).
pub(crate) const RESERVE_ENTITY_ID: &str =
    "SELECT setval('entity_ids', GREATEST($1, (SELECT last_value FROM entity_ids)))";

/// `count` new numbers of a counter in one statement, in increasing order.
pub(crate) async fn next_block(
    conn: &mut sqlx::PgConnection,
    counter: crate::store::Counter,
    count: usize,
) -> Result<Vec<i64>, sqlx::Error> {
    let count = i64::try_from(count).expect("a batch is small");
    let sequence = match counter {
        crate::store::Counter::Entity => "entity_ids",
        crate::store::Counter::Journal => "journal_seq",
    };
    sqlx::query_scalar(
        "SELECT nextval($1::regclass) FROM generate_series(1, $2::bigint) ORDER BY 1",
    )
    .bind(sequence)
    .bind(count)
    .fetch_all(conn)
    .await
}

// The same source for both backends, compiled against each: deliberate.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
pub(crate) mod sql;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn an_import_refreshes_the_statistics_of_every_table_and_no_other() {
        let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
        let mut created = BTreeSet::new();
        for entry in std::fs::read_dir(migrations).expect("the migrations") {
            let text = std::fs::read_to_string(entry.expect("a migration").path())
                .expect("a migration's text");
            let words: Vec<&str> = text.split_whitespace().collect();
            for window in words.windows(3) {
                if let ["CREATE", "TABLE", name] = window {
                    created.insert(name.trim_end_matches('(').to_owned());
                }
            }
        }
        let named: BTreeSet<String> = tables!().split(", ").map(str::to_owned).collect();
        assert!(created.len() >= 12, "tables found: {created:?}");
        assert_eq!(named, created);
    }
}
