-- Portal sessions kept on the server (issue #18.6): a copied cookie must stop working after
-- sign-out, a password change, or the absolute lifetime, on every node. The cookie carries a
-- random session id; only its SHA-256 is stored, so the table grants nothing to its reader.
CREATE TABLE portal_sessions (
    id_hash   TEXT PRIMARY KEY,
    user_uuid TEXT NOT NULL,
    started   BIGINT NOT NULL
);
CREATE INDEX portal_sessions_user ON portal_sessions (user_uuid);
CREATE INDEX portal_sessions_started ON portal_sessions (started);
