-- The access audit (SPEC §15): one row per read or change of a company's
-- data, chained per company by HMAC-SHA256 (docs/audit.md). Company 0 is the
-- platform's own chain (operator requests that name no single company).
CREATE TABLE access_audit (
    company_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at_us BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    ids TEXT NOT NULL,
    status BIGINT NOT NULL,
    client TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (company_id, seq)
);
CREATE INDEX access_audit_by_time ON access_audit (company_id, at_us);

-- Each company's chain: its head (the last record appended, taken under a
-- row lock by whoever appends next) and its checkpoint (the last record
-- pruned, sealed by an HMAC so what remains still verifies).
CREATE TABLE access_audit_chains (
    company_id BIGINT NOT NULL PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL,
    base_seq BIGINT NOT NULL,
    base_hash TEXT NOT NULL,
    base_mac TEXT NOT NULL
);

-- The chain key generated when none is configured (docs/decisions.md).
CREATE TABLE access_audit_settings (
    setting_name TEXT NOT NULL PRIMARY KEY,
    setting_value TEXT NOT NULL
);
