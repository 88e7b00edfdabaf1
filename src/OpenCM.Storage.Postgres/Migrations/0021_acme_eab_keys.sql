-- ACME External Account Binding keys (issue #24.4, RFC 8555 §7.3.4): an operator issues one with
-- `opencm acme eab` for a directory user and a template; an ACME client binds it to its account
-- once, and that account then acts as the user. The HMAC key is sealed under the master key (the
-- key id bound as associated data), so a copy of the database alone cannot bind an account.
-- bound_thumbprint is set once, by compare-and-set, when an account binds the key.
CREATE TABLE acme_eab_keys (
    key_id           TEXT PRIMARY KEY,
    hmac_sealed      TEXT NOT NULL,
    user_uuid        TEXT NOT NULL,
    template_uuid    TEXT NOT NULL,
    created          BIGINT NOT NULL,
    expires          BIGINT NOT NULL,
    bound_thumbprint TEXT NULL,
    bound            BIGINT NULL
);
CREATE INDEX acme_eab_keys_expires ON acme_eab_keys (expires);
