//! A run of derivations: the derived fields waiting to be written, and the
//! hosts' billable sessions that the duplicate rule compares, read up front.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use sqlx::QueryBuilder;

use super::journal::ROWS_PER_INSERT;
use super::outbox::Outbox;
use super::session_facts::{Loaded, load, load_all, persons_in};
use super::{Conn, Db, UPDATE_MANY, push_id_list};
use crate::domain::calls::billable_instant;
use crate::domain::status::{BillableSession, is_duplicate_of};
use crate::domain::{Call, Timestamp};
use crate::store::{Rules, StoreError};

/// The derived fields of one session, to be written.
pub(super) struct DerivedRow {
    pub(super) company_id: i64,
    pub(super) session_id: i64,
    pub(super) billable_ts: Option<i64>,
    pub(super) duration_minutes: Option<i64>,
    pub(super) status: Option<&'static str>,
    pub(super) guest_names: String,
    pub(super) history_group: i64,
    pub(super) history_ts: i64,
}

/// A host's billable sessions (id → billable instant) whose billable instant
/// lies in `[from, to]`.
pub(super) struct HostBillable {
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) sessions: HashMap<i64, i64>,
}

/// A run of derivations: the derived fields not yet written, and the
/// billable sessions of the run's hosts as they stand with them. The run
/// writes its sessions with one statement (per [`ROWS_PER_INSERT`]) at the
/// end, and the duplicate rule's lookups read the ranges read up front
/// instead of a query per session. Whatever reads a session's derived
/// fields from the database writes the pending ones first.
///
/// The sessions of those ranges are the only ones the rule can re-derive
/// as neighbours or compare guests with, so their facts and calls are read
/// up front too, a statement each for all of them: a batch whose sessions
/// have neighbours then costs no statement per neighbour.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) rows: Vec<DerivedRow>,
    pub(super) hosts: HashMap<(i64, i64), HostBillable>,
    /// Facts and connected calls of the sessions in `hosts`, as read up
    /// front: the derived fields among their facts are superseded by `rows`.
    pub(super) stored: HashMap<(i64, i64), Loaded>,
    /// The persons who joined each session derived or compared so far
    /// ([`persons_in`]): what the duplicate rule compares.
    pub(super) persons: HashMap<(i64, i64), HashSet<i64>>,
    /// Each company's DUPL window (SPEC §3: stored with the company).
    pub(super) windows: HashMap<i64, i64>,
    /// The sessions derived, before and after, for outbound webhooks.
    pub(super) outbox: Outbox,
}

impl Pending {
    /// Reads, with one statement, the billable sessions of each host of
    /// `sessions` that the duplicate rule may look at: those within the
    /// window of the billable instants the loaded sessions will have.
    pub(super) async fn prefetch(
        conn: &mut Conn,
        sessions: &[((i64, i64), Option<Loaded>)],
        rules: &Rules,
    ) -> Result<Self, StoreError> {
        let mut company_ids: Vec<i64> = sessions
            .iter()
            .map(|&((company_id, _), _)| company_id)
            .collect();
        company_ids.sort_unstable();
        company_ids.dedup();
        let windows = windows(&mut *conn, &company_ids, rules).await?;
        let mut hosts: HashMap<(i64, i64), HostBillable> = HashMap::new();
        for ((company_id, _), loaded) in sessions {
            let window_minutes = windows[company_id];
            let Some(Loaded { facts, calls }) = loaded else {
                continue;
            };
            let calls: Vec<Call> = calls.iter().map(|named| named.call).collect();
            let Some(at) = billable_instant(facts.billable_ts.map(Timestamp::from_micros), &calls)
            else {
                continue;
            };
            let from = at.plus_minutes(-window_minutes).as_micros();
            let to = at.plus_minutes(window_minutes).as_micros();
            hosts
                .entry((*company_id, facts.host_user_id))
                .and_modify(|range| {
                    range.from = range.from.min(from);
                    range.to = range.to.max(to);
                })
                .or_insert(HostBillable {
                    from,
                    to,
                    sessions: HashMap::new(),
                });
        }
        let ranges: Vec<_> = hosts
            .iter()
            .map(|(&(company_id, host_user_id), range)| {
                (company_id, host_user_id, range.from, range.to)
            })
            .collect();
        for chunk in ranges.chunks(ROWS_PER_INSERT) {
            let mut sql = QueryBuilder::<Db>::new(
                "SELECT s.company_id, s.host_user_id, s.session_id, s.history_ts FROM (",
            );
            sql.push_values(chunk, |mut range, &(company_id, host_user_id, from, to)| {
                range
                    .push_bind(company_id)
                    .push_bind(host_user_id)
                    .push_bind(from)
                    .push_bind(to);
            });
            sql.push(
                ") AS r JOIN sessions s ON s.company_id = r.column1 AND s.host_user_id = r.column2
                 AND s.history_group = 0 AND s.history_ts >= r.column3 AND s.history_ts <= r.column4",
            );
            let rows: Vec<(i64, i64, i64, i64)> =
                sql.build_query_as().fetch_all(&mut *conn).await?;
            for (company_id, host_user_id, session_id, at) in rows {
                if let Some(host) = hosts.get_mut(&(company_id, host_user_id)) {
                    host.sessions.insert(session_id, at);
                }
            }
        }
        let keys: Vec<(i64, i64)> = hosts
            .iter()
            .flat_map(|(&(company_id, _), host)| {
                host.sessions
                    .keys()
                    .map(move |&session_id| (company_id, session_id))
            })
            .collect();
        let stored = load_all(&mut *conn, &keys).await?;
        Ok(Pending {
            rows: Vec::new(),
            hosts,
            stored,
            persons: HashMap::new(),
            windows,
            outbox: Outbox::default(),
        })
    }

    /// A company's DUPL window: as read up front, else from the database.
    pub(super) async fn window(
        &mut self,
        conn: &mut Conn,
        company_id: i64,
        rules: &Rules,
    ) -> Result<i64, StoreError> {
        if let Some(&window) = self.windows.get(&company_id) {
            return Ok(window);
        }
        let read = windows(conn, &[company_id], rules).await?;
        self.windows.extend(read);
        Ok(self.windows[&company_id])
    }

    /// Keeps a session's new derived fields, to be written by [`Self::flush`].
    pub(super) fn record(&mut self, host_user_id: i64, row: DerivedRow) {
        if let Some(host) = self.hosts.get_mut(&(row.company_id, host_user_id)) {
            host.sessions.remove(&row.session_id);
            if row.history_group == 0 && (host.from..=host.to).contains(&row.history_ts) {
                host.sessions.insert(row.session_id, row.history_ts);
            }
        }
        self.rows.push(row);
    }

    /// Writes the pending derived fields, one statement per
    /// [`ROWS_PER_INSERT`] sessions (a session derived twice: the last).
    pub(super) async fn flush(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
        let mut last: HashMap<(i64, i64), usize> = HashMap::new();
        for (index, row) in self.rows.iter().enumerate() {
            last.insert((row.company_id, row.session_id), index);
        }
        let rows: Vec<&DerivedRow> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(index, row)| last[&(row.company_id, row.session_id)] == *index)
            .map(|(_, row)| row)
            .collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut sql = QueryBuilder::<Db>::new(format!(
                "{UPDATE_MANY} sessions SET billable_ts = v.column3, duration_minutes = v.column4,
                     status = v.column5, guest_names = v.column6, history_group = v.column7,
                     history_ts = v.column8
                 FROM ("
            ));
            sql.push_values(chunk, |mut values, row| {
                values
                    .push_bind(row.company_id)
                    .push_bind(row.session_id)
                    .push_bind(row.billable_ts)
                    .push_bind(row.duration_minutes)
                    .push_bind(row.status)
                    .push_bind(row.guest_names.clone())
                    .push_bind(row.history_group)
                    .push_bind(row.history_ts);
            });
            sql.push(
                ") AS v WHERE sessions.company_id = v.column1 AND sessions.session_id = v.column2",
            );
            sql.build().execute(&mut *conn).await?;
        }
        self.rows.clear();
        Ok(())
    }

    /// A session's facts and calls: as read up front, with the derived
    /// fields pending for it; else from the database, after writing what
    /// is pending.
    pub(super) async fn load(
        &mut self,
        conn: &mut Conn,
        company_id: i64,
        session_id: i64,
    ) -> Result<Loaded, StoreError> {
        let Some(stored) = self.stored.get(&(company_id, session_id)) else {
            self.flush(&mut *conn).await?;
            return load(conn, company_id, session_id).await;
        };
        let mut loaded = stored.clone();
        if let Some(row) = self
            .rows
            .iter()
            .rev()
            .find(|row| (row.company_id, row.session_id) == (company_id, session_id))
        {
            loaded.facts.billable_ts = row.billable_ts;
            loaded.facts.status = row.status.map(str::to_owned);
            loaded.facts.duration_minutes = row.duration_minutes;
        }
        Ok(loaded)
    }

    /// The persons who joined a session: as derived in this run, else from
    /// its calls as read up front, else from the database (whose calls are
    /// this run's already).
    pub(super) async fn persons(
        &mut self,
        conn: &mut Conn,
        company_id: i64,
        session_id: i64,
    ) -> Result<&HashSet<i64>, StoreError> {
        let key = (company_id, session_id);
        if let Entry::Vacant(entry) = self.persons.entry(key) {
            let persons = match self.stored.get(&key) {
                Some(stored) => persons_in(&stored.calls),
                None => persons_in(&load(conn, company_id, session_id).await?.calls),
            };
            entry.insert(persons);
        }
        Ok(&self.persons[&key])
    }

    /// The billable sessions of a host, other than `except`, whose billable
    /// instant lies in `[from, to]`, earliest first: the candidates of the
    /// duplicate rule. From the range read up front when it covers
    /// `[from, to]`, else from the database.
    pub(super) async fn billable_between(
        &mut self,
        conn: &mut Conn,
        (company_id, host_user_id, except): (i64, i64, i64),
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<BillableSession>, StoreError> {
        let (from, to) = (from.as_micros(), to.as_micros());
        let mut found: Vec<(i64, i64)> = match self.hosts.get(&(company_id, host_user_id)) {
            Some(host) if host.from <= from && to <= host.to => host
                .sessions
                .iter()
                .filter(|&(&id, &at)| id != except && (from..=to).contains(&at))
                .map(|(&id, &at)| (at, id))
                .collect(),
            _ => {
                self.flush(&mut *conn).await?;
                sqlx::query_as(
                    "SELECT history_ts, session_id FROM sessions
                     WHERE company_id = $1 AND host_user_id = $2 AND history_group = 0
                       AND history_ts >= $3 AND history_ts <= $4 AND session_id <> $5",
                )
                .bind(company_id)
                .bind(host_user_id)
                .bind(from)
                .bind(to)
                .bind(except)
                .fetch_all(&mut *conn)
                .await?
            }
        };
        found.sort_unstable();
        Ok(found
            .into_iter()
            .map(|(at, session_id)| BillableSession {
                session_id,
                billable_ts: Timestamp::from_micros(at),
            })
            .collect())
    }
}

/// The duplicate rule's database half: an earlier billable session of the
/// same host, inside the window, that one of this session's guests joined.
pub(super) async fn duplicates_earlier(
    conn: &mut Conn,
    pending: &mut Pending,
    company_id: i64,
    host_user_id: i64,
    this: BillableSession,
    persons: &HashSet<i64>,
    rules: &Rules,
) -> Result<bool, StoreError> {
    if persons.is_empty() {
        return Ok(false);
    }
    let window = pending.window(&mut *conn, company_id, rules).await?;
    let earlier = pending
        .billable_between(
            &mut *conn,
            (company_id, host_user_id, this.session_id),
            this.billable_ts.plus_minutes(-window),
            this.billable_ts,
        )
        .await?;
    for other in earlier {
        if !is_duplicate_of(this, other, window) {
            continue;
        }
        let theirs = pending
            .persons(&mut *conn, company_id, other.session_id)
            .await?;
        if !theirs.is_disjoint(persons) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The companies' DUPL windows (one statement per [`ROWS_PER_INSERT`]
/// companies): each stored with its company; a company created before the
/// window was stored (NULL) has the rules' window, as it had then.
async fn windows(
    conn: &mut Conn,
    company_ids: &[i64],
    rules: &Rules,
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut windows = HashMap::with_capacity(company_ids.len());
    for chunk in company_ids.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "SELECT company_id, duplicate_window_minutes FROM companies WHERE company_id IN ",
        );
        push_id_list(&mut sql, chunk);
        let rows: Vec<(i64, Option<i64>)> = sql.build_query_as().fetch_all(&mut *conn).await?;
        for (company_id, window) in rows {
            windows.insert(company_id, window.unwrap_or(rules.duplicate_window_minutes));
        }
    }
    // A company not found (none is: sessions belong to one) gets the rules'.
    for &company_id in company_ids {
        windows
            .entry(company_id)
            .or_insert(rules.duplicate_window_minutes);
    }
    Ok(windows)
}
