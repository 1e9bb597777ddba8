-- The Session API lists a company's active sessions by schedule, and the
-- automatic deactivation (SPEC §3.2) scans the same range.
CREATE INDEX sessions_by_state ON sessions (company_id, state, schedule_ts, session_id);
