-- The event outbox (issue #21.2): what a unit of work did, written in the same transaction as the
-- change, so that a committed change is never un-notified and a rolled-back one never notified.
-- A dispatcher claims an event by compare-and-set on next_attempt (its lease: a claim whose
-- process ended is due again when the lease runs out), fans it out into deliveries and sets
-- dispatched. Statuses are the Domain enumerations' names; detail never holds a secret; times
-- are UTC ticks.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    type         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    from_status  TEXT NULL,
    to_status    TEXT NULL,
    detail       TEXT NULL,
    occurred     BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    dispatched   BIGINT NULL
);
CREATE INDEX events_due ON events (next_attempt) WHERE dispatched IS NULL;

-- Expiry notices sent (issue #21.2): one row per certificate and threshold in days, written in
-- the transaction that queues the notice's event, so a notice goes out once.
CREATE TABLE expiry_notices (
    serial  TEXT NOT NULL,
    days    INTEGER NOT NULL,
    noticed BIGINT NOT NULL,
    PRIMARY KEY (serial, days)
);

-- The expiry scan reads certificates by notAfter.
CREATE INDEX certificates_not_after ON certificates (not_after);
