-- Every CA this server holds (issue #20.1): the first (the embedded root, or a subordinate CA
-- installed under an enterprise root), later ones made by `opencm ca request` and activated by
-- `opencm ca install`. state: 0 pending (key made, no certificate yet), 1 active (issues new
-- certificates; one at a time), 2 retired (issues nothing new, keeps publishing its CRL).
-- key_ref says where the private key is (a sealed secret's name, or a PKCS#11 key label),
-- never the key itself. slug and publication are fixed when the CA is made (issue #20.5):
-- every certificate it signs carries URLs built from them, so they never move.
CREATE TABLE certificate_authorities (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    state       INTEGER NOT NULL,
    key_ref     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    certificate BLOB NULL,
    chain       BLOB NULL,
    publication TEXT NULL,
    created     INTEGER NOT NULL,
    activated   INTEGER NULL
);

-- At most one active CA, whatever two processes do at once.
CREATE UNIQUE INDEX certificate_authorities_one_active ON certificate_authorities (state) WHERE state = 1;

-- Which CA signed a certificate; NULL while a serial is only reserved. Rows from before this
-- migration were all signed by the one CA there was, which becomes CA 1.
ALTER TABLE certificates ADD COLUMN ca_id INTEGER NULL;
UPDATE certificates SET ca_id = 1 WHERE der IS NOT NULL;
