-- The CA notices outbox (issue #17.7): a revocation (or a release from hold) is queued here in the
-- unit of work that records it, and delivered to the CA after the commit, retried with backoff
-- until the CA has it. serials is a JSON array of upper-case hex serials; times are UTC ticks;
-- delivered stays NULL until the CA has the notice.
CREATE TABLE ca_outbox (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    serials      TEXT NOT NULL,
    reason       INTEGER NOT NULL,
    revoked_at   BIGINT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    delivered    BIGINT NULL,
    last_error   TEXT NULL
);
CREATE INDEX ca_outbox_due ON ca_outbox (next_attempt) WHERE delivered IS NULL;
