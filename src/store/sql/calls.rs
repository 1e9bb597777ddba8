//! What a batch of events reads and writes besides the journal: each
//! session's facts, participations and calls, a statement each for the
//! whole batch, and the support agents' names.

use std::collections::HashMap;

use sqlx::QueryBuilder;

use super::billing::{NamedCall, SessionFacts};
use super::journal;
use super::{Conn, Db, UPDATE_MANY, push_id_list, push_keys};
use crate::domain::{Call, Party, Timestamp};
use crate::records::PartyKind;
use crate::store::StoreError;

/// A session: (company, session).
pub(super) type Key = (i64, i64);

#[derive(Debug, Clone)]
pub(super) struct StoredCall {
    pub(super) party: PartyKind,
    pub(super) participation_id: Option<i64>,
    pub(super) support_agent_id: Option<i64>,
    pub(super) connect: Option<i64>,
    pub(super) disconnect: Option<i64>,
    pub(super) changed: bool,
}

type CallRow = (
    i64,
    i64,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// A session's connected calls, named, as `billing` reads them from the database.
pub(super) fn named_calls(
    calls: HashMap<String, StoredCall>,
    participations: &HashMap<i64, Participant>,
    agent_names: &HashMap<i64, String>,
) -> Vec<NamedCall> {
    calls
        .into_values()
        .filter_map(|stored| {
            let connect = stored.connect?;
            let (party, name, person_id, position) = match (
                stored.party,
                stored.participation_id,
                stored.support_agent_id,
            ) {
                (PartyKind::Participant, Some(id), _) => {
                    let participant = participations.get(&id);
                    (
                        Party::Participation(id),
                        participant.map(|p| p.full_name.clone()),
                        participant.map(|p| p.person_id),
                        participant.map(|p| p.position),
                    )
                }
                (PartyKind::Support, _, Some(id)) => (
                    Party::Support(id),
                    agent_names.get(&id).cloned(),
                    None,
                    None,
                ),
                _ => (Party::Host, None, None, None),
            };
            Some(NamedCall {
                call: Call {
                    party,
                    connect: Timestamp::from_micros(connect),
                    disconnect: stored.disconnect.map(Timestamp::from_micros),
                },
                name,
                person_id,
                position,
            })
        })
        .collect()
}

/// Records activity on the sessions and returns the facts of each that exists.
pub(super) async fn mark_activity(
    conn: &mut Conn,
    keys: &[Key],
    now: Timestamp,
) -> Result<HashMap<Key, SessionFacts>, StoreError> {
    let mut sql =
        QueryBuilder::<Db>::new(format!("{UPDATE_MANY} sessions SET last_activity_us = "));
    sql.push_bind(now.as_micros()).push(" FROM ");
    push_keys(&mut sql, keys);
    sql.push(
        " WHERE sessions.company_id = k.column1 AND sessions.session_id = k.column2
         RETURNING company_id, session_id, host_user_id, schedule_ts, state, comped, billable_ts, status,
                   duration_minutes",
    );
    /// A session's key beside its facts.
    #[derive(sqlx::FromRow)]
    struct Marked {
        company_id: i64,
        session_id: i64,
        #[sqlx(flatten)]
        facts: SessionFacts,
    }
    Ok(sql
        .build_query_as::<Marked>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|marked| ((marked.company_id, marked.session_id), marked.facts))
        .collect())
}

pub(super) type Calls = HashMap<String, StoredCall>;
pub(super) type Participants = HashMap<i64, Participant>;

/// A participation as the batch needs it.
pub(super) struct Participant {
    pub(super) is_host: bool,
    pub(super) removed: bool,
    full_name: String,
    person_id: i64,
    /// Its place in the session: invitation order.
    position: i64,
}

/// Each session's participations by id.
pub(super) async fn participations_of(
    conn: &mut Conn,
    keys: &[Key],
) -> Result<HashMap<Key, Participants>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT p.company_id, p.session_id, p.participation_id, p.is_host, p.removed_us, p.full_name,
                p.person_id, p.position
         FROM ",
    );
    push_keys(&mut sql, keys);
    sql.push(" JOIN participations p ON p.company_id = k.column1 AND p.session_id = k.column2");
    let mut by_session: HashMap<Key, Participants> = HashMap::new();
    for (company_id, session_id, id, is_host, removed, full_name, person_id, position) in sql
        .build_query_as::<(i64, i64, i64, bool, Option<i64>, String, i64, i64)>()
        .fetch_all(&mut *conn)
        .await?
    {
        let participant = Participant {
            is_host,
            removed: removed.is_some(),
            full_name,
            person_id,
            position,
        };
        by_session
            .entry((company_id, session_id))
            .or_default()
            .insert(id, participant);
    }
    Ok(by_session)
}

/// The names of those of `ids` that are support agents.
pub(super) async fn support_agent_names(
    conn: &mut Conn,
    ids: &[i64],
) -> Result<HashMap<i64, String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT support_agent_id, full_name FROM support_agents WHERE support_agent_id IN ",
    );
    push_id_list(&mut sql, ids);
    Ok(sql
        .build_query_as::<(i64, String)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect())
}

/// Each session's stored calls by CallId.
pub(super) async fn calls_of(
    conn: &mut Conn,
    keys: &[Key],
) -> Result<HashMap<Key, Calls>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT c.company_id, c.session_id, c.call_id, c.party, c.participation_id, c.support_agent_id,
                c.connect_ts, c.disconnect_ts
         FROM ",
    );
    push_keys(&mut sql, keys);
    sql.push(" JOIN calls c ON c.company_id = k.column1 AND c.session_id = k.column2");
    let mut by_session: HashMap<Key, Calls> = HashMap::new();
    let rows = sql
        .build_query_as::<CallRow>()
        .fetch_all(&mut *conn)
        .await?;
    for (
        company_id,
        session_id,
        call_id,
        party,
        participation_id,
        support_agent_id,
        connect,
        disconnect,
    ) in rows
    {
        let call = StoredCall {
            party: PartyKind::from_stored(&party),
            participation_id,
            support_agent_id,
            connect,
            disconnect,
            changed: false,
        };
        by_session
            .entry((company_id, session_id))
            .or_default()
            .insert(call_id, call);
    }
    Ok(by_session)
}

/// Inserts or updates the changed calls, several rows a statement.
pub(super) async fn store_calls(
    conn: &mut Conn,
    calls: &[(Key, String, StoredCall)],
) -> Result<(), StoreError> {
    for chunk in calls.chunks(journal::ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "INSERT INTO calls (company_id, session_id, call_id, party, participation_id, support_agent_id,
                 connect_ts, disconnect_ts) ",
        );
        sql.push_values(
            chunk,
            |mut row, ((company_id, session_id), call_id, call)| {
                row.push_bind(*company_id)
                    .push_bind(*session_id)
                    .push_bind(call_id.clone())
                    .push_bind(call.party.as_str())
                    .push_bind(call.participation_id)
                    .push_bind(call.support_agent_id)
                    .push_bind(call.connect)
                    .push_bind(call.disconnect);
            },
        );
        sql.push(
            " ON CONFLICT (company_id, session_id, call_id)
             DO UPDATE SET connect_ts = excluded.connect_ts, disconnect_ts = excluded.disconnect_ts",
        );
        sql.build().execute(&mut *conn).await?;
    }
    Ok(())
}
