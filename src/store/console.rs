//! The web console's rows (SPEC §14): passwords, Login API links, signed-in
//! browsers, and the list of companies the operator's pages show.

use super::{Backend, Company, Store, StoreError, postgres, sqlite};
use crate::store::health::Verdict;

/// A user who may sign in with this password hash.
#[derive(Debug, Clone)]
pub struct PasswordCandidate {
    pub company_id: i64,
    pub user_id: i64,
    pub password_hash: String,
}

/// A Login API link as stored: the LoginGuid only as its digest.
#[derive(Debug, Clone)]
pub struct ConsoleLink {
    pub guid_hash: String,
    pub company_id: i64,
    pub user_id: i64,
    pub redirect_uri: Option<String>,
    pub created_us: i64,
    pub expires_us: i64,
}

/// A signed-in browser: a user of a company, or (both `None`) an operator.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub company_id: Option<i64>,
    pub user_id: Option<i64>,
    pub redirect_uri: Option<String>,
    pub seen_us: i64,
    pub ended_us: Option<i64>,
}

impl Store {
    pub async fn set_password(
        &self,
        company_id: i64,
        user_id: i64,
        password_hash: &str,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        on_writer!(self, pool => backend::set_password(pool, company_id, user_id, password_hash, now_us).await)
    }

    pub async fn password_candidates(
        &self,
        email: &str,
    ) -> Result<Vec<PasswordCandidate>, StoreError> {
        on_backend!(self, pool => backend::password_candidates(pool, email).await)
    }

    pub async fn create_console_link(&self, link: &ConsoleLink) -> Result<(), StoreError> {
        on_writer!(self, pool => backend::create_link(pool, link).await)
    }

    pub async fn redeem_console_link(
        &self,
        guid_hash: &str,
        token_hash: &str,
        now_us: i64,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        on_writer!(self, pool => backend::redeem_link(pool, guid_hash, token_hash, now_us).await)
    }

    pub async fn end_console_link(
        &self,
        company_id: i64,
        guid_hash: &str,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        on_writer!(self, pool => backend::end_link(pool, company_id, guid_hash, now_us).await)
    }

    pub async fn start_console_session(
        &self,
        token_hash: &str,
        company_and_user: Option<(i64, i64)>,
        now_us: i64,
    ) -> Result<(), StoreError> {
        on_writer!(self, pool => backend::start_session(pool, token_hash, company_and_user, now_us).await)
    }

    pub async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        on_backend!(self, pool => backend::console_session(pool, token_hash).await)
    }

    pub async fn touch_console_session(
        &self,
        token_hash: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        on_writer!(self, pool => backend::touch_session(pool, token_hash, now_us).await)
    }

    pub async fn end_console_session(
        &self,
        token_hash: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        on_writer!(self, pool => backend::end_session(pool, token_hash, now_us).await)
    }

    /// Every company, by id.
    pub async fn companies(&self) -> Result<Vec<Company>, StoreError> {
        on_backend!(self, pool => backend::companies(pool).await)
    }
}
