-- The delivery log (issue #21.2): one row per event and receiver (a webhook endpoint's URL, an
-- e-mail address). id is stable (webhook-id), so a retry is recognisably the same message;
-- payload is what is sent, fixed at dispatch. status is pending, delivered or failed (given up
-- after Notifications:MaxAttempts); a pending row is claimed by compare-and-set on next_attempt.
-- last_error never holds a secret (a status code or an exception type). Times are UTC ticks.
CREATE TABLE deliveries (
    id           TEXT PRIMARY KEY,
    event_id     BIGINT NOT NULL,
    event_type   TEXT NOT NULL,
    channel      TEXT NOT NULL,
    target       TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created      BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    finished     BIGINT NULL,
    last_error   TEXT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt) WHERE status = 'pending';
CREATE INDEX deliveries_by_created ON deliveries (created);
