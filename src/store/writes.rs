//! The typed doors of every change other than connection events: each
//! takes its record and gives back what the caller needs (the new ids),
//! while the store journals the completed record as one log line.

use super::{Store, StoreError};
use crate::domain::Timestamp;
use crate::records::{
    AddParticipantRecord, ApiKeyRecord, CancelRecord, CompRecord, CompanyPlanRecord, CompanyRecord,
    LogLine, Record, RemoveParticipantRecord, RescheduleRecord, RevokeApiKeyRecord, RoomRecord,
    SessionActionRecord, SessionRecord, SupportAgentRecord, UserDeleteRecord, UserRecord,
    UserUpdateRecord,
};

/// A session as created: its id and those of its participations, the
/// host's first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub session_id: i64,
    pub participation_ids: Vec<i64>,
}

/// Applies changes at a given time (`Store::write`, `Store::write_at`).
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    store: &'a Store,
    /// When the changes happened; now when `None`.
    at: Option<Timestamp>,
}

impl Store {
    /// Changes made now.
    pub fn write(&self) -> Writer<'_> {
        Writer {
            store: self,
            at: None,
        }
    }

    /// Changes that happened at `at` (the demo's made-up month).
    pub fn write_at(&self, at: Timestamp) -> Writer<'_> {
        Writer {
            store: self,
            at: Some(at),
        }
    }
}

/// The completed record of the kind that was applied: the store journals a
/// change as the same kind of line it was given.
macro_rules! applied {
    ($record:expr, $kind:ident) => {
        match $record {
            Record::$kind(record) => record,
            _ => unreachable!(concat!(
                "a ",
                stringify!($kind),
                " record is applied as one"
            )),
        }
    };
}

/// An id the store has just assigned to what it created.
fn assigned(id: Option<i64>) -> i64 {
    id.expect("the store assigns the id of what it creates")
}

impl Writer<'_> {
    async fn apply(self, record: Record) -> Result<Record, StoreError> {
        let line = LogLine {
            record,
            recorded_ts: self.at,
            batch: None,
        };
        Ok(self.store.apply(line).await?.record)
    }

    /// The new company's id, and the company as stored (its name trimmed).
    pub async fn create_company(
        self,
        new: CompanyRecord,
    ) -> Result<(i64, CompanyRecord), StoreError> {
        let created = applied!(self.apply(Record::Company(new)).await?, Company);
        Ok((assigned(created.company_id), created))
    }

    pub async fn change_plan(self, plan: CompanyPlanRecord) -> Result<(), StoreError> {
        self.apply(Record::CompanyPlan(plan)).await.map(drop)
    }

    pub async fn create_api_key(self, key: ApiKeyRecord) -> Result<(), StoreError> {
        self.apply(Record::ApiKey(key)).await.map(drop)
    }

    pub async fn revoke_api_key(self, api_key: String) -> Result<(), StoreError> {
        let record = Record::RevokeApiKey(RevokeApiKeyRecord { api_key });
        self.apply(record).await.map(drop)
    }

    /// The new agent's id, and the agent as stored (names trimmed).
    pub async fn create_support_agent(
        self,
        new: SupportAgentRecord,
    ) -> Result<(i64, SupportAgentRecord), StoreError> {
        let created = applied!(self.apply(Record::SupportAgent(new)).await?, SupportAgent);
        Ok((assigned(created.support_agent_id), created))
    }

    /// The new user's id.
    pub async fn create_user(self, new: UserRecord) -> Result<i64, StoreError> {
        let created = applied!(self.apply(Record::User(new)).await?, User);
        Ok(assigned(created.user_id))
    }

    pub async fn update_user(self, update: UserUpdateRecord) -> Result<(), StoreError> {
        self.apply(Record::UserUpdate(update)).await.map(drop)
    }

    pub async fn delete_user(self, delete: UserDeleteRecord) -> Result<(), StoreError> {
        self.apply(Record::UserDelete(delete)).await.map(drop)
    }

    pub async fn create_session(self, new: SessionRecord) -> Result<NewSession, StoreError> {
        let created = applied!(self.apply(Record::Session(new)).await?, Session);
        Ok(NewSession {
            session_id: assigned(created.session_id),
            participation_ids: created
                .participants
                .iter()
                .map(|participant| assigned(participant.participation_id))
                .collect(),
        })
    }

    pub async fn reschedule(self, reschedule: RescheduleRecord) -> Result<(), StoreError> {
        self.apply(Record::Reschedule(reschedule)).await.map(drop)
    }

    pub async fn cancel(self, cancel: CancelRecord) -> Result<(), StoreError> {
        self.apply(Record::Cancel(cancel)).await.map(drop)
    }

    /// The new participation's id.
    pub async fn add_participant(self, add: AddParticipantRecord) -> Result<i64, StoreError> {
        let added = applied!(
            self.apply(Record::AddParticipant(add)).await?,
            AddParticipant
        );
        Ok(assigned(added.participant.participation_id))
    }

    pub async fn remove_participant(
        self,
        remove: RemoveParticipantRecord,
    ) -> Result<(), StoreError> {
        self.apply(Record::RemoveParticipant(remove))
            .await
            .map(drop)
    }

    pub async fn deactivate(self, action: SessionActionRecord) -> Result<(), StoreError> {
        self.apply(Record::Deactivate(action)).await.map(drop)
    }

    pub async fn comp(self, comp: CompRecord) -> Result<(), StoreError> {
        self.apply(Record::Comp(comp)).await.map(drop)
    }

    pub async fn uncomp(self, action: SessionActionRecord) -> Result<(), StoreError> {
        self.apply(Record::Uncomp(action)).await.map(drop)
    }

    pub async fn bind_room(self, room: RoomRecord) -> Result<(), StoreError> {
        self.apply(Record::Room(room)).await.map(drop)
    }
}
