-- Outbound webhooks (SPEC §13). A tenant's endpoints; the secret is kept
-- as issued because every delivery is signed with it (docs/decisions.md).
-- `types` is the subscribed types between commas (",SESSION_STATUS,").
CREATE TABLE webhooks (
    company_id BIGINT NOT NULL,
    webhook_id BIGINT NOT NULL,
    url TEXT NOT NULL,
    types TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    -- The start of the current run of failed attempts, if any.
    failing_since_us BIGINT,
    disabled_us BIGINT,
    disabled_reason TEXT,
    deleted_us BIGINT,
    PRIMARY KEY (company_id, webhook_id)
);

-- The outbox: one row per change, written in the change's transaction, and
-- one delivery per subscribed endpoint beside it.
CREATE TABLE webhook_events (
    company_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL,
    webhook_type TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    payload TEXT NOT NULL,
    created_us BIGINT NOT NULL,
    PRIMARY KEY (company_id, event_id)
);

-- A delivery is pending while delivered_us is null. subject_id (a session,
-- or the company for usage) orders an endpoint's deliveries: a later one of
-- the same subject waits for the earlier. claimed_until_us is a node's lease.
CREATE TABLE webhook_deliveries (
    company_id BIGINT NOT NULL,
    webhook_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL,
    subject_id BIGINT NOT NULL,
    created_us BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_us BIGINT NOT NULL,
    claimed_until_us BIGINT NOT NULL DEFAULT 0,
    delivered_us BIGINT,
    PRIMARY KEY (company_id, webhook_id, event_id)
);
-- The queue the delivery workers of every company claim from.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_us)
    WHERE delivered_us IS NULL;
CREATE INDEX webhook_deliveries_in_order
    ON webhook_deliveries (company_id, webhook_id, subject_id, event_id)
    WHERE delivered_us IS NULL;

CREATE TABLE webhook_attempts (
    company_id BIGINT NOT NULL,
    webhook_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    at_us BIGINT NOT NULL,
    http_status BIGINT,
    latency_ms BIGINT NOT NULL,
    response TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (company_id, webhook_id, event_id, attempt)
);

-- What fires once: a session's STARTED, a month's usage thresholds.
CREATE TABLE webhook_marks (
    company_id BIGINT NOT NULL,
    subject_id BIGINT NOT NULL,
    mark TEXT NOT NULL,
    PRIMARY KEY (company_id, subject_id, mark)
);
