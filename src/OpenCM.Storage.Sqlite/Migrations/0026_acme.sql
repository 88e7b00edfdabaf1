-- ACME (RFC 8555, issue #24.4): the nonces handed out, accounts, orders and authorizations, shared
-- by every node of the database. Each object is its JSON document (body) beside the columns it is
-- found by and the version its compare-and-set updates check (the challenges live in their
-- authorization's body). Nonces are rows until used or expired: a used one is deleted, so a
-- replay on any node finds none (badNonce).
CREATE TABLE acme_nonces (
    nonce   TEXT PRIMARY KEY,
    expires INTEGER NOT NULL
);
CREATE INDEX acme_nonces_expires ON acme_nonces (expires);

CREATE TABLE acme_accounts (
    id         TEXT PRIMARY KEY,
    thumbprint TEXT NOT NULL UNIQUE,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL
);

CREATE TABLE acme_orders (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL,
    created            INTEGER NOT NULL,
    certificate_serial TEXT NULL,
    version            INTEGER NOT NULL,
    body               TEXT NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, created);
CREATE INDEX acme_orders_certificate ON acme_orders (certificate_serial);

CREATE TABLE acme_authorizations (
    id       TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    version  INTEGER NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX acme_authorizations_order ON acme_authorizations (order_id);
