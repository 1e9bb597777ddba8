//! Reading what a session's billing record is derived from: its stored
//! facts and its connected calls, named.

use std::collections::{HashMap, HashSet};

use sqlx::QueryBuilder;

use super::journal::ROWS_PER_INSERT;
use super::{Conn, Db, push_keys};
use crate::domain::{Call, Party, SessionState, Timestamp};
use crate::records::PartyKind;
use crate::store::StoreError;

/// The stored facts of a session that its derived fields depend on.
#[derive(Clone, sqlx::FromRow)]
pub(super) struct SessionFacts {
    pub(super) host_user_id: i64,
    pub(super) schedule_ts: i64,
    #[sqlx(try_from = "String")]
    pub(super) state: SessionState,
    pub(super) comped: bool,
    pub(super) billable_ts: Option<i64>,
    pub(super) status: Option<String>,
    pub(super) duration_minutes: Option<i64>,
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
pub(super) struct ConnectedCall {
    pub(super) party: String,
    pub(super) participation_id: Option<i64>,
    pub(super) support_agent_id: Option<i64>,
    pub(super) connect_ts: i64,
    pub(super) disconnect_ts: Option<i64>,
    pub(super) name: Option<String>,
    pub(super) person_id: Option<i64>,
    pub(super) position: Option<i64>,
}

/// Reads a session's facts and connected calls.
pub(super) async fn load(
    conn: &mut Conn,
    company_id: i64,
    session_id: i64,
) -> Result<Loaded, StoreError> {
    load_all(conn, &[(company_id, session_id)])
        .await?
        .remove(&(company_id, session_id))
        .ok_or_else(|| sqlx::Error::RowNotFound.into())
}

pub(super) fn named_call(
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
    let party = match (
        PartyKind::from_stored(&party),
        participation_id,
        support_agent_id,
    ) {
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
pub(super) async fn load_all(
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
                    s.billable_ts, s.status, s.duration_minutes
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
pub(super) fn persons_in(calls: &[NamedCall]) -> HashSet<i64> {
    calls
        .iter()
        .filter(|named| matches!(named.call.party, Party::Participation(_)))
        .filter_map(|named| named.person_id)
        .collect()
}
