-- SCEP challenge passwords (issue #24.3, docs/scep.md): one-time secrets OpenCM issues per
-- enrollment, bound to a template and a user. Only the SHA-256 of the secret is stored, so the
-- table grants nothing to its reader. Once used, the row keeps the SCEP transaction (transactionID
-- and the SHA-256 of the requester's public key) so that the client's resends and polls find the
-- enrollment's caller again.
CREATE TABLE scep_challenges (
    hash           TEXT PRIMARY KEY,
    template_uuid  TEXT NOT NULL,
    user_uuid      TEXT NOT NULL,
    issued_by      TEXT NOT NULL,
    created        INTEGER NOT NULL,
    expires        INTEGER NOT NULL,
    used           INTEGER,
    transaction_id TEXT,
    key_hash       TEXT
);
CREATE INDEX scep_challenges_transaction ON scep_challenges (transaction_id, key_hash);
CREATE INDEX scep_challenges_expires ON scep_challenges (expires);
