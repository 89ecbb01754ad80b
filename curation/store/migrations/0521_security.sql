-- Security hardening (issue 25).
-- Sign-in attempts get an order (an id) so that "failures since the last success" is exact even when several
-- attempts share a timestamp, and an attempt is recorded (as not ok) before its password is checked.
CREATE SEQUENCE seq_login_events START 1;
ALTER TABLE login_events ADD COLUMN id BIGINT DEFAULT nextval('seq_login_events');

-- Facts about this database itself: whether it is a team database (then it never opens without a users file),
-- the secret that signs session cookies.
CREATE TABLE store_facts (
    name VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL,
    set_at TIMESTAMP NOT NULL DEFAULT now()
);

-- The admin's allowlist of LLM endpoints: which API-key environment variable may be sent to which base URL.
CREATE TABLE llm_endpoints (
    api_key_env VARCHAR NOT NULL,
    base_url VARCHAR NOT NULL,
    added_by VARCHAR,
    added_at TIMESTAMP NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_env, base_url)
);

-- Signed-in browser sessions (the cookie carries an HMAC-signed token naming one of these): sign-out revokes it.
CREATE TABLE auth_sessions (
    token_id VARCHAR PRIMARY KEY,
    username VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
