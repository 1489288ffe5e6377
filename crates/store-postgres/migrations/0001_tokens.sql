-- The tokens of zoho-oauth-store-postgres: one row per StoreKey.
-- Migrations run with search_path set to the store's schema alone, so unqualified names are created there.

-- Revisions come from one sequence, so a key deleted and saved again never reuses a revision that a
-- stale writer may still hold.
CREATE SEQUENCE token_revisions AS bigint;

CREATE TABLE tokens (
    key_hash bytea PRIMARY KEY CHECK (octet_length(key_hash) = 32),
    key json NOT NULL,
    tokens json NOT NULL,
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    retry_at timestamptz,
    last_failure_kind text CHECK (last_failure_kind IN ('rate_limited', 'transient', 'rejected', 'grant_invalid')),
    last_failure_code text,
    last_failure_at timestamptz,
    renewed_at timestamptz,
    revision bigint NOT NULL CHECK (revision > 0),
    saved_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((last_failure_kind IS NULL) = (last_failure_at IS NULL)),
    CHECK (last_failure_code IS NULL OR last_failure_kind IS NOT NULL)
);

COMMENT ON TABLE tokens IS 'Zoho OAuth tokens (zoho-oauth-store-postgres). Holds live access and refresh tokens: grant access like a private key.';
COMMENT ON COLUMN tokens.key_hash IS 'SHA-256 of the key fields; the primary key, and the source of the advisory refresh-lock id';
COMMENT ON COLUMN tokens.key IS 'The StoreKey: client_id, user, accounts_server, environment';
COMMENT ON COLUMN tokens.tokens IS 'The TokenSet: access_token, refresh_token, expires_at (RFC 3339, nanoseconds), api_domain, accounts_server, scopes. SECRET.';
COMMENT ON COLUMN tokens.failures IS 'Consecutive failed renewals since the last success';
COMMENT ON COLUMN tokens.retry_at IS 'No renewal request is sent before this instant';
COMMENT ON COLUMN tokens.last_failure_kind IS 'Why the last renewal failed: rate_limited, transient, rejected or grant_invalid';
COMMENT ON COLUMN tokens.last_failure_code IS 'The server''s error code for the last failure';
COMMENT ON COLUMN tokens.last_failure_at IS 'When the last renewal failed';
COMMENT ON COLUMN tokens.renewed_at IS 'When the tokens were last renewed, by any process';
COMMENT ON COLUMN tokens.revision IS 'Changes on every write; update() writes only over the revision it read';
COMMENT ON COLUMN tokens.saved_at IS 'When the row was last written, for people';
