//! Re-deriving a session's billing record from its calls (SPEC §3.1), and
//! the duplicate rule, which looks at the host's other sessions.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use sqlx::QueryBuilder;

use super::events::party_kind;
use super::journal::ROWS_PER_INSERT;
use super::{Conn, Db, INSERT_MANY, UPDATE_MANY, next_block, push_id_list, push_keys};
use crate::domain::calls::{duration_minutes, first_overlap, guests_in_order_of_arrival};
use crate::domain::status::{
    BillableSession, StatusFacts, billable_status, is_duplicate_of, join_guest_names,
};
use crate::domain::{BillableStatus, Call, Party, Timestamp};
use crate::records::PartyKind;
use crate::store::{Counter, Rules, StoreError};

/// Why a session's status changed, for the audit log.
pub(super) struct Cause<'a> {
    pub(super) reason: &'a str,
    pub(super) actor: &'a str,
}

/// Re-derives a session, then the later sessions of the same host whose
/// duplicate status may depend on it.
pub(super) async fn refresh_with_neighbours(
    conn: &mut Conn,
    company_id: i64,
    session_id: i64,
    now: Timestamp,
    cause: &Cause<'_>,
    rules: &Rules,
) -> Result<(), StoreError> {
    let loaded = load(&mut *conn, company_id, session_id).await?;
    let deriving = Deriving { now, cause, rules };
    refresh_all_with_neighbours(
        &mut *conn,
        &deriving,
        vec![((company_id, session_id), Some(loaded))],
    )
    .await
}

/// When and why sessions are derived again, under which rules.
pub(super) struct Deriving<'a> {
    pub(super) now: Timestamp,
    pub(super) cause: &'a Cause<'a>,
    pub(super) rules: &'a Rules,
}

/// Re-derives each session (from what the caller loaded, or from the
/// database when `None`), each followed by its neighbours, in order; the
/// derived fields are written and the status changes recorded together at
/// the end.
pub(super) async fn refresh_all_with_neighbours(
    conn: &mut Conn,
    deriving: &Deriving<'_>,
    sessions: Vec<((i64, i64), Option<Loaded>)>,
) -> Result<(), StoreError> {
    let mut pending = Pending::prefetch(&mut *conn, &sessions, deriving.rules).await?;
    let mut audits = Vec::new();
    // A session re-derived as a neighbour has moved on from what the caller
    // loaded: it is read again.
    let mut rederived: HashSet<(i64, i64)> = HashSet::new();
    for ((company_id, session_id), loaded) in sessions {
        let loaded = match loaded {
            Some(loaded) if !rederived.contains(&(company_id, session_id)) => loaded,
            _ => pending.load(&mut *conn, company_id, session_id).await?,
        };
        let refreshed = derive_and_store(
            &mut *conn,
            &mut pending,
            deriving,
            (company_id, session_id),
            loaded,
            deriving.cause,
            &mut audits,
        )
        .await?;
        let Some(billable_ts) = refreshed.billable_ts else {
            continue;
        };
        let window = pending
            .window(&mut *conn, company_id, deriving.rules)
            .await?;
        let this = BillableSession {
            session_id,
            billable_ts,
        };
        let later = pending
            .billable_between(
                &mut *conn,
                (company_id, refreshed.host_user_id, session_id),
                billable_ts,
                billable_ts.plus_minutes(window),
            )
            .await?;
        let because = format!("re-evaluated after session {session_id} changed");
        let neighbour_cause = Cause {
            reason: &because,
            actor: "system",
        };
        for other in later {
            if is_duplicate_of(other, this, window) {
                let loaded = pending
                    .load(&mut *conn, company_id, other.session_id)
                    .await?;
                derive_and_store(
                    &mut *conn,
                    &mut pending,
                    deriving,
                    (company_id, other.session_id),
                    loaded,
                    &neighbour_cause,
                    &mut audits,
                )
                .await?;
                rederived.insert((company_id, other.session_id));
            }
        }
    }
    pending.flush(&mut *conn).await?;
    store_audits(&mut *conn, &audits).await
}

/// The derived fields of one session, to be written.
struct DerivedRow {
    company_id: i64,
    session_id: i64,
    billable_ts: Option<i64>,
    duration_minutes: Option<i64>,
    status: Option<&'static str>,
    guest_names: String,
    history_group: i64,
    history_ts: i64,
}

/// A host's billable sessions (id → billable instant) whose billable instant
/// lies in `[from, to]`.
struct HostBillable {
    from: i64,
    to: i64,
    sessions: HashMap<i64, i64>,
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
struct Pending {
    rows: Vec<DerivedRow>,
    hosts: HashMap<(i64, i64), HostBillable>,
    /// Facts and connected calls of the sessions in `hosts`, as read up
    /// front: the derived fields among their facts are superseded by `rows`.
    stored: HashMap<(i64, i64), Loaded>,
    /// The persons who joined each session derived or compared so far
    /// ([`persons_in`]): what the duplicate rule compares.
    persons: HashMap<(i64, i64), HashSet<i64>>,
    /// Each company's DUPL window (SPEC §3: stored with the company).
    windows: HashMap<i64, i64>,
}

impl Pending {
    /// Reads, with one statement, the billable sessions of each host of
    /// `sessions` that the duplicate rule may look at: those within the
    /// window of the billable instants the loaded sessions will have.
    async fn prefetch(
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
            let Some(at) = billable_instant(facts, &calls) else {
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
        })
    }

    /// A company's DUPL window: as read up front, else from the database.
    async fn window(
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
    fn record(&mut self, host_user_id: i64, row: DerivedRow) {
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
    async fn flush(&mut self, conn: &mut Conn) -> Result<(), StoreError> {
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
    async fn load(
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
        }
        Ok(loaded)
    }

    /// The persons who joined a session: as derived in this run, else from
    /// its calls as read up front, else from the database (whose calls are
    /// this run's already).
    async fn persons(
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
    async fn billable_between(
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

/// Re-derives every billable session of a company, after its DUPL window
/// changed: in runs of [`ROWS_PER_INSERT`] sessions in the order they became
/// billable, each run reading what the duplicate rule looks at up front.
/// A status depends on the other sessions' billable instants and persons,
/// never on their statuses, so the runs are independent of each other.
pub(super) async fn refresh_company(
    conn: &mut Conn,
    company_id: i64,
    deriving: &Deriving<'_>,
) -> Result<(), StoreError> {
    let session_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT session_id FROM sessions WHERE company_id = $1 AND history_group = 0
         ORDER BY history_ts, session_id",
    )
    .bind(company_id)
    .fetch_all(&mut *conn)
    .await?;
    for run in session_ids.chunks(ROWS_PER_INSERT) {
        let keys: Vec<(i64, i64)> = run.iter().map(|&id| (company_id, id)).collect();
        let mut loaded = load_all(&mut *conn, &keys).await?;
        let sessions: Vec<((i64, i64), Option<Loaded>)> =
            keys.iter().map(|key| (*key, loaded.remove(key))).collect();
        let mut pending = Pending::prefetch(&mut *conn, &sessions, deriving.rules).await?;
        let mut audits = Vec::new();
        for (key, loaded) in sessions {
            let Some(loaded) = loaded else { continue };
            derive_and_store(
                &mut *conn,
                &mut pending,
                deriving,
                key,
                loaded,
                deriving.cause,
                &mut audits,
            )
            .await?;
        }
        pending.flush(&mut *conn).await?;
        store_audits(&mut *conn, &audits).await?;
    }
    Ok(())
}

pub(super) struct Refreshed {
    host_user_id: i64,
    billable_ts: Option<Timestamp>,
}

/// The stored facts of a session that its derived fields depend on.
#[derive(Clone, sqlx::FromRow)]
pub(super) struct SessionFacts {
    pub(super) host_user_id: i64,
    pub(super) schedule_ts: i64,
    pub(super) state: String,
    pub(super) comped: bool,
    pub(super) billable_ts: Option<i64>,
    pub(super) status: Option<String>,
}

/// A connected call with its party's name and person (none for the host),
/// and for a participation its place in the session (invitation order).
#[derive(Clone)]
pub(super) struct NamedCall {
    pub(super) call: Call,
    pub(super) name: Option<String>,
    pub(super) person_id: Option<i64>,
    pub(super) position: Option<i64>,
}

/// Everything a session's derived fields are computed from.
#[derive(Clone)]
pub(super) struct Loaded {
    pub(super) facts: SessionFacts,
    pub(super) calls: Vec<NamedCall>,
}

/// A connected call as read, with its party's name and person.
#[derive(sqlx::FromRow)]
struct ConnectedCall {
    party: String,
    participation_id: Option<i64>,
    support_agent_id: Option<i64>,
    connect_ts: i64,
    disconnect_ts: Option<i64>,
    name: Option<String>,
    person_id: Option<i64>,
    position: Option<i64>,
}

/// Reads a session's facts and connected calls.
async fn load(conn: &mut Conn, company_id: i64, session_id: i64) -> Result<Loaded, StoreError> {
    load_all(conn, &[(company_id, session_id)])
        .await?
        .remove(&(company_id, session_id))
        .ok_or_else(|| sqlx::Error::RowNotFound.into())
}

fn named_call(
    ConnectedCall {
        party,
        participation_id,
        support_agent_id,
        connect_ts: connect,
        disconnect_ts: disconnect,
        name,
        person_id,
        position,
    }: ConnectedCall,
) -> NamedCall {
    let party = match (party_kind(&party), participation_id, support_agent_id) {
        (PartyKind::Participant, Some(id), _) => Party::Participation(id),
        (PartyKind::Support, _, Some(id)) => Party::Support(id),
        _ => Party::Host,
    };
    NamedCall {
        call: Call {
            party,
            connect: Timestamp::from_micros(connect),
            disconnect: disconnect.map(Timestamp::from_micros),
        },
        name,
        person_id,
        position,
    }
}

/// [`load`] for many sessions, a statement each for their facts and their
/// calls (per [`ROWS_PER_INSERT`] sessions).
async fn load_all(
    conn: &mut Conn,
    keys: &[(i64, i64)],
) -> Result<HashMap<(i64, i64), Loaded>, StoreError> {
    /// A session's key beside its facts.
    #[derive(sqlx::FromRow)]
    struct Keyed {
        company_id: i64,
        session_id: i64,
        #[sqlx(flatten)]
        facts: SessionFacts,
    }
    let mut loaded = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "SELECT s.company_id, s.session_id, s.host_user_id, s.schedule_ts, s.state, s.comped,
                    s.billable_ts, s.status
             FROM ",
        );
        push_keys(&mut sql, chunk);
        sql.push(" JOIN sessions s ON s.company_id = k.column1 AND s.session_id = k.column2");
        for Keyed {
            company_id,
            session_id,
            facts,
        } in sql.build_query_as::<Keyed>().fetch_all(&mut *conn).await?
        {
            let calls = Vec::new();
            loaded.insert((company_id, session_id), Loaded { facts, calls });
        }
        let mut sql = QueryBuilder::<Db>::new(
            "SELECT c.company_id, c.session_id, c.party, c.participation_id, c.support_agent_id,
                    c.connect_ts, c.disconnect_ts, COALESCE(p.full_name, a.full_name) AS name,
                    p.person_id, p.position
             FROM ",
        );
        push_keys(&mut sql, chunk);
        sql.push(
            " JOIN calls c ON c.company_id = k.column1 AND c.session_id = k.column2
             LEFT JOIN participations p ON p.company_id = c.company_id AND p.participation_id = c.participation_id
             LEFT JOIN support_agents a ON a.support_agent_id = c.support_agent_id
             WHERE c.connect_ts IS NOT NULL",
        );
        /// A connected call beside its session's key.
        #[derive(sqlx::FromRow)]
        struct KeyedCall {
            company_id: i64,
            session_id: i64,
            #[sqlx(flatten)]
            call: ConnectedCall,
        }
        for KeyedCall {
            company_id,
            session_id,
            call,
        } in sql
            .build_query_as::<KeyedCall>()
            .fetch_all(&mut *conn)
            .await?
        {
            if let Some(session) = loaded.get_mut(&(company_id, session_id)) {
                session.calls.push(named_call(call));
            }
        }
    }
    Ok(loaded)
}

/// The persons of a session's connected participant calls.
fn persons_in(calls: &[NamedCall]) -> HashSet<i64> {
    calls
        .iter()
        .filter(|named| matches!(named.call.party, Party::Participation(_)))
        .filter_map(|named| named.person_id)
        .collect()
}

/// Recomputes and stores every derived field of one session from its calls.
pub(super) async fn refresh(
    conn: &mut Conn,
    company_id: i64,
    session_id: i64,
    now: Timestamp,
    cause: &Cause<'_>,
    rules: &Rules,
) -> Result<(), StoreError> {
    let loaded = load(&mut *conn, company_id, session_id).await?;
    let deriving = Deriving { now, cause, rules };
    let mut pending = Pending::default();
    let mut audits = Vec::new();
    derive_and_store(
        &mut *conn,
        &mut pending,
        &deriving,
        (company_id, session_id),
        loaded,
        cause,
        &mut audits,
    )
    .await?;
    pending.flush(&mut *conn).await?;
    store_audits(&mut *conn, &audits).await
}

/// A change of a session's billing status, for the audit log.
pub(super) struct StatusChange {
    company_id: i64,
    session_id: i64,
    at: Timestamp,
    old_status: Option<String>,
    new_status: Option<&'static str>,
    reason: String,
    actor: String,
}

/// Computes a session's derived fields from what was loaded and keeps them
/// in `pending`; a status change is added to `audits`.
async fn derive_and_store(
    conn: &mut Conn,
    pending: &mut Pending,
    deriving: &Deriving<'_>,
    (company_id, session_id): (i64, i64),
    Loaded {
        facts,
        calls: named,
    }: Loaded,
    cause: &Cause<'_>,
    audits: &mut Vec<StatusChange>,
) -> Result<Refreshed, StoreError> {
    let persons = persons_in(&named);
    let mut names: HashMap<Party, String> = HashMap::new();
    let mut positions: HashMap<i64, i64> = HashMap::new();
    let calls: Vec<Call> = named
        .into_iter()
        .map(
            |NamedCall {
                 call,
                 name,
                 position,
                 ..
             }| {
                if call.party != Party::Host {
                    names.insert(call.party, name.unwrap_or_default());
                }
                if let (Party::Participation(id), Some(position)) = (call.party, position) {
                    positions.insert(id, position);
                }
                call
            },
        )
        .collect();

    let billable_ts = billable_instant(&facts, &calls);
    let duration = duration_minutes(&calls, facts.state == "active");
    let invited = |id: i64| positions.get(&id).copied().unwrap_or(i64::MAX);
    let guest_names: Vec<String> = guests_in_order_of_arrival(&calls, invited)
        .into_iter()
        .map(|party| names.remove(&party).unwrap_or_default())
        .collect();
    let support_connected = calls
        .iter()
        .any(|call| matches!(call.party, Party::Support(_)));
    let duplicates_earlier_session = match billable_ts {
        Some(at) if !facts.comped && !support_connected => {
            let this = BillableSession {
                session_id,
                billable_ts: at,
            };
            duplicates_earlier(
                &mut *conn,
                pending,
                company_id,
                facts.host_user_id,
                this,
                &persons,
                deriving.rules,
            )
            .await?
        }
        _ => false,
    };
    let status = billable_status(StatusFacts {
        billable_ts,
        comped: facts.comped,
        support_connected,
        duplicates_earlier_session,
    });
    let (history_group, history_ts) = match billable_ts {
        Some(at) => (0i64, at.as_micros()),
        None => (1, facts.schedule_ts),
    };
    pending.record(
        facts.host_user_id,
        DerivedRow {
            company_id,
            session_id,
            billable_ts: billable_ts.map(Timestamp::as_micros),
            duration_minutes: duration,
            status: status.map(BillableStatus::code),
            guest_names: join_guest_names(&guest_names),
            history_group,
            history_ts,
        },
    );

    pending.persons.insert((company_id, session_id), persons);
    let new_status = status.map(BillableStatus::code);
    if facts.status.as_deref() != new_status {
        audits.push(StatusChange {
            company_id,
            session_id,
            at: deriving.now,
            old_status: facts.status,
            new_status,
            reason: cause.reason.to_owned(),
            actor: cause.actor.to_owned(),
        });
    }
    Ok(Refreshed {
        host_user_id: facts.host_user_id,
        billable_ts,
    })
}

/// When a session became billable: once stored it stays, else the first
/// overlap of its calls (SPEC §3.1).
fn billable_instant(facts: &SessionFacts, calls: &[Call]) -> Option<Timestamp> {
    facts
        .billable_ts
        .map(Timestamp::from_micros)
        .or_else(|| first_overlap(calls))
}

/// Records status changes, several rows a statement, numbered in order.
async fn store_audits(conn: &mut Conn, audits: &[StatusChange]) -> Result<(), StoreError> {
    if audits.is_empty() {
        return Ok(());
    }
    let ids = next_block(&mut *conn, Counter::Entity, audits.len()).await?;
    let rows: Vec<(i64, &StatusChange)> = ids.into_iter().zip(audits).collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(format!(
            "{INSERT_MANY} status_audit (company_id, audit_id, session_id, at_us, old_status, new_status, reason, actor) "
        ));
        sql.push_values(chunk, |mut row, (audit_id, change)| {
            row.push_bind(change.company_id)
                .push_bind(*audit_id)
                .push_bind(change.session_id)
                .push_bind(change.at.as_micros())
                .push_bind(change.old_status.clone())
                .push_bind(change.new_status)
                .push_bind(change.reason.clone())
                .push_bind(change.actor.clone());
        });
        sql.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The duplicate rule's database half: an earlier billable session of the
/// same host, inside the window, that one of this session's guests joined.
async fn duplicates_earlier(
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
