-- Video providers' webhooks (SPEC §12). A provider's room bound to a session
-- by the operator, for providers that name rooms themselves: a directory,
-- like session_directory, because a webhook names the room but not the
-- company.
CREATE TABLE provider_rooms (
    provider TEXT NOT NULL,
    room_id TEXT NOT NULL,
    company_id BIGINT NOT NULL,
    session_id BIGINT NOT NULL,
    PRIMARY KEY (provider, room_id)
);

-- Authentic webhooks that could not be applied (unknown room or identity,
-- a deactivated session), kept 30 days for the operator to look at and
-- retry. Platform-wide: the company is what could not be found.
CREATE TABLE provider_unmatched (
    unmatched_id BIGINT NOT NULL PRIMARY KEY,
    provider TEXT NOT NULL,
    received_us BIGINT NOT NULL,
    reason TEXT NOT NULL,
    body TEXT NOT NULL,
    applied_us BIGINT
);
CREATE INDEX provider_unmatched_by_time ON provider_unmatched (received_us);
