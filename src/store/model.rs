//! What the store takes and gives, the same for every backend.

use serde::Serialize;
use tokio::sync::mpsc;

use crate::domain::events::InvalidBatch;
use crate::domain::limits::InvalidText;
use crate::domain::session_state::UnknownState;
use crate::domain::{BillableStatus, PartyKind, Period, Timestamp};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input breaks a rule: 400.
    #[error("{0}")]
    Invalid(String),
    /// No such thing, or not the caller's: 404.
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with the current state: 409.
    #[error("{0}")]
    Conflict(String),
    /// An import line failed; nothing of the import was kept.
    #[error("line {line}: {message}")]
    ImportLine { line: u64, message: String },
    /// The database cannot be reached just now: 503.
    #[error("{0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// A stored state that is none of the three: the database was changed
/// behind the service's back.
impl From<UnknownState> for StoreError {
    fn from(unknown: UnknownState) -> Self {
        Self::Database(sqlx::Error::Decode(Box::new(unknown)))
    }
}

impl From<InvalidText> for StoreError {
    fn from(invalid: InvalidText) -> Self {
        Self::Invalid(invalid.0)
    }
}

impl From<InvalidBatch> for StoreError {
    fn from(invalid: InvalidBatch) -> Self {
        Self::Invalid(invalid.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub company_id: i64,
    pub name: String,
    pub included_sessions: i64,
    pub overage_price_cents: i64,
    pub data_version: i64,
    /// `None` for a company created before the window was stored, until the
    /// one-time step fills it in: the process's flag applies.
    pub duplicate_window_minutes: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct StoredKey {
    pub secret_hash: String,
    pub revoked: bool,
    /// The company's data version when the key was read.
    pub data_version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct EventOutcome {
    pub accepted: u64,
    pub duplicates: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub lines: u64,
}

/// Where a page of history ends; the next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor {
    pub group: i64,
    pub ts: i64,
    pub session_id: i64,
}

impl HistoryCursor {
    pub fn encode(self) -> String {
        format!("{}.{}.{}", self.group, self.ts, self.session_id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let cursor = Self {
            group: parts.next()?.parse().ok()?,
            ts: parts.next()?.parse().ok()?,
            session_id: parts.next()?.parse().ok()?,
        };
        (parts.next().is_none() && matches!(cursor.group, 0 | 1)).then_some(cursor)
    }
}

#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub company_id: i64,
    pub host_user_id: Option<i64>,
    pub period: Period,
    /// Already normalized (trimmed, lower case).
    pub participant_email: Option<String>,
    pub after: Option<HistoryCursor>,
    pub limit: Option<i64>,
}

/// One session of the History API, with the parts of its invoice line.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub session_id: i64,
    pub schedule_ts: Timestamp,
    pub billable_ts: Option<Timestamp>,
    pub duration_minutes: Option<i64>,
    pub status: Option<BillableStatus>,
    pub user_id: i64,
    pub host_full_name: String,
    /// Joined as the invoice line lists them.
    pub guest_names: String,
    pub cursor: HistoryCursor,
}

/// Chunks of history rows, from the task that reads them.
pub(crate) type RowChunks = mpsc::Receiver<Result<Vec<HistoryRow>, StoreError>>;

/// A history answer read in one consistent snapshot: the company's data
/// version at that snapshot, then the rows, in chunks, as they are read
/// ([`HistoryReader::next_chunk`]).
#[derive(Debug)]
pub struct HistoryReader {
    pub data_version: i64,
    /// Rows already read, handed out first (taken once handed out).
    first: Vec<HistoryRow>,
    /// The rest, from a task still reading them; `None` when the answer
    /// was read whole.
    rest: Option<RowChunks>,
}

impl HistoryReader {
    pub(crate) fn new(data_version: i64, first: Vec<HistoryRow>, rest: Option<RowChunks>) -> Self {
        Self {
            data_version,
            first,
            rest,
        }
    }

    /// The next chunk of rows, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<HistoryRow>, StoreError>> {
        if !self.first.is_empty() {
            return Some(Ok(std::mem::take(&mut self.first)));
        }
        self.rest.as_mut()?.recv().await
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageCounts {
    pub counted: i64,
    pub support: i64,
    pub duplicate: i64,
    pub comped: i64,
    pub total_duration_minutes: i64,
    pub included_sessions: i64,
    pub overage_price_cents: i64,
    pub data_version: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AuditEntry {
    pub session_id: i64,
    pub at: Timestamp,
    #[schema(required = true)]
    pub old_status: Option<String>,
    #[schema(required = true)]
    pub new_status: Option<String>,
    pub reason: String,
    pub actor: String,
}

/// A call that has connected and not yet ended (a room's end closes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCall {
    pub call_id: String,
    pub party: PartyKind,
    pub participation_id: Option<i64>,
    pub support_agent_id: Option<i64>,
    pub connected: Timestamp,
}

/// An authentic provider webhook that could not be applied, kept 30 days.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UnmatchedWebhook {
    pub unmatched_id: i64,
    pub provider: String,
    pub received: Timestamp,
    /// Why it could not be applied.
    pub reason: String,
    /// The body as received.
    pub body: String,
}
