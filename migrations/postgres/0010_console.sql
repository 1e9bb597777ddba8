-- The web console (SPEC §14). Passwords set through the Password API, as
-- argon2id PHC strings; one row per user.
CREATE TABLE console_passwords (
    company_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    password_hash TEXT NOT NULL,
    set_us BIGINT NOT NULL,
    PRIMARY KEY (company_id, user_id)
);

-- Sign-in by e-mail looks users up case-insensitively across companies.
CREATE INDEX users_by_lower_email ON users (lower(email_address));

-- Login API links: the LoginGuid is the secret of its LoginUri and is kept
-- only as a SHA-256 digest; a link signs in once, before expires_us.
CREATE TABLE console_links (
    guid_hash TEXT NOT NULL PRIMARY KEY,
    company_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    redirect_uri TEXT,
    created_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    used_us BIGINT,
    ended_us BIGINT
);

-- Signed-in browsers. The cookie's token is kept only as a SHA-256 digest.
-- company_id and user_id are null for an operator.
CREATE TABLE console_sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    guid_hash TEXT,
    company_id BIGINT,
    user_id BIGINT,
    redirect_uri TEXT,
    created_us BIGINT NOT NULL,
    seen_us BIGINT NOT NULL,
    ended_us BIGINT
);
CREATE INDEX console_sessions_by_guid ON console_sessions (guid_hash);
