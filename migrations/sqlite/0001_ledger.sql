-- session-ledger schema. Every company-owned table leads its keys with
-- company_id (SPEC §11); timestamps are integer microseconds since the epoch.
-- migrations/postgres holds the same text, but for the id counters below.

CREATE TABLE id_counters (
    counter_name TEXT NOT NULL PRIMARY KEY,
    last_value BIGINT NOT NULL
);
INSERT INTO id_counters (counter_name, last_value) VALUES ('entity', 0), ('journal', 0);

CREATE TABLE companies (
    company_id BIGINT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    included_sessions BIGINT NOT NULL,
    overage_price_cents BIGINT NOT NULL,
    -- Bumped by every change to the company's data; the ETag of its reads.
    data_version BIGINT NOT NULL,
    created_us BIGINT NOT NULL
);

CREATE TABLE api_keys (
    company_id BIGINT NOT NULL REFERENCES companies (company_id),
    api_key TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    revoked_us BIGINT,
    PRIMARY KEY (company_id, api_key)
);

-- The platform's own people: a reference table, not owned by a company.
CREATE TABLE support_agents (
    support_agent_id BIGINT NOT NULL PRIMARY KEY,
    full_name TEXT NOT NULL,
    email_address TEXT NOT NULL
);

CREATE TABLE persons (
    company_id BIGINT NOT NULL REFERENCES companies (company_id),
    person_id BIGINT NOT NULL,
    full_name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    external_id TEXT NOT NULL,
    email_address TEXT NOT NULL,
    email_key TEXT NOT NULL,
    PRIMARY KEY (company_id, person_id)
);
CREATE INDEX persons_by_email ON persons (company_id, email_key);
CREATE INDEX persons_by_name ON persons (company_id, name_key);
CREATE INDEX persons_by_external_id ON persons (company_id, external_id);

-- Every address a person has had, the current one included.
CREATE TABLE person_emails (
    company_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    email_key TEXT NOT NULL,
    first_seen_us BIGINT NOT NULL,
    PRIMARY KEY (company_id, person_id, email_key),
    FOREIGN KEY (company_id, person_id) REFERENCES persons (company_id, person_id)
);

CREATE TABLE users (
    company_id BIGINT NOT NULL REFERENCES companies (company_id),
    user_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    full_name TEXT NOT NULL,
    email_address TEXT NOT NULL,
    sms_number TEXT NOT NULL,
    default_resolution TEXT NOT NULL,
    time_zone_windows_id TEXT NOT NULL,
    help_number TEXT NOT NULL,
    external_id TEXT NOT NULL,
    system_roles TEXT NOT NULL,
    deleted_us BIGINT,
    PRIMARY KEY (company_id, user_id),
    FOREIGN KEY (company_id, person_id) REFERENCES persons (company_id, person_id)
);

-- Operator calls name a session by id alone; this finds its company.
CREATE TABLE session_directory (
    session_id BIGINT NOT NULL PRIMARY KEY,
    company_id BIGINT NOT NULL
);

CREATE TABLE sessions (
    company_id BIGINT NOT NULL REFERENCES companies (company_id),
    session_id BIGINT NOT NULL,
    host_user_id BIGINT NOT NULL,
    schedule_ts BIGINT NOT NULL,
    schedule_type TEXT NOT NULL,
    connect_code TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    last_activity_us BIGINT NOT NULL,
    -- 'active', 'deactivated' or 'cancelled'
    state TEXT NOT NULL,
    state_changed_us BIGINT,
    comped BOOLEAN NOT NULL,
    comp_reason TEXT,
    -- Derived fields (SPEC §3.1), stored so that a history read is a range scan.
    billable_ts BIGINT,
    duration_minutes BIGINT,
    status TEXT,
    host_full_name TEXT NOT NULL,
    guest_names TEXT NOT NULL,
    -- History order: billable sessions (group 0) by billable_ts, then the
    -- others (group 1) by schedule_ts.
    history_group BIGINT NOT NULL,
    history_ts BIGINT NOT NULL,
    PRIMARY KEY (company_id, session_id),
    FOREIGN KEY (company_id, host_user_id) REFERENCES users (company_id, user_id)
);
CREATE INDEX sessions_history ON sessions (company_id, history_group, history_ts, session_id);
CREATE INDEX sessions_host_history ON sessions (company_id, host_user_id, history_group, history_ts, session_id);

CREATE TABLE participations (
    company_id BIGINT NOT NULL,
    participation_id BIGINT NOT NULL,
    session_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    position BIGINT NOT NULL,
    is_host BOOLEAN NOT NULL,
    secure_video_user_id BIGINT,
    full_name TEXT NOT NULL,
    email_address TEXT NOT NULL,
    sms_number TEXT NOT NULL,
    default_resolution TEXT NOT NULL,
    time_zone_windows_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    connect_code TEXT NOT NULL,
    should_auto_deliver_code TEXT NOT NULL,
    removed_us BIGINT,
    PRIMARY KEY (company_id, participation_id),
    FOREIGN KEY (company_id, session_id) REFERENCES sessions (company_id, session_id),
    FOREIGN KEY (company_id, person_id) REFERENCES persons (company_id, person_id)
);
CREATE INDEX participations_by_session ON participations (company_id, session_id);
CREATE INDEX participations_by_person ON participations (company_id, person_id, session_id);

-- One row per participant-call. A Disconnect that arrived before its Connect
-- leaves connect_ts null until the Connect comes.
CREATE TABLE calls (
    company_id BIGINT NOT NULL,
    session_id BIGINT NOT NULL,
    call_id TEXT NOT NULL,
    party TEXT NOT NULL,
    participation_id BIGINT,
    support_agent_id BIGINT,
    connect_ts BIGINT,
    disconnect_ts BIGINT,
    PRIMARY KEY (company_id, session_id, call_id),
    FOREIGN KEY (company_id, session_id) REFERENCES sessions (company_id, session_id)
);

CREATE TABLE status_audit (
    company_id BIGINT NOT NULL,
    audit_id BIGINT NOT NULL,
    session_id BIGINT NOT NULL,
    at_us BIGINT NOT NULL,
    old_status TEXT,
    new_status TEXT,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY (company_id, audit_id)
);
CREATE INDEX status_audit_by_session ON status_audit (company_id, session_id, audit_id);

-- Every change, in order, as the log line that replays it (SPEC §9): the
-- source of `export`. Connection events keep their EventId here, which makes
-- them idempotent per company. Platform-wide records use company 0, so an
-- export in (company_id, seq) order writes them first.
CREATE TABLE journal (
    company_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    event_id TEXT,
    record TEXT NOT NULL,
    PRIMARY KEY (company_id, seq)
);
CREATE UNIQUE INDEX journal_event_ids ON journal (company_id, event_id);
