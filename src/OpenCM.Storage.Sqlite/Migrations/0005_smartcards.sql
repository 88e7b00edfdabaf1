-- Smart cards (issue #8). card_id is the physical card's id, canonical (a GUID in lower-case D
-- form); a card id names one card record that is not retired. status: 1 new, 2 assigned,
-- 3 active, 4 suspended, 5 disabled, 6 retired (SPEC §3).
CREATE TABLE smartcards (
    uuid             TEXT PRIMARY KEY,
    card_id          TEXT NOT NULL,
    atr              TEXT NOT NULL,
    status           INTEGER NOT NULL,
    user_uuid        TEXT NOT NULL,
    template         TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    request_uuid     TEXT NOT NULL,
    parent_uuid      TEXT NOT NULL,
    permanent_uuid   TEXT NOT NULL,
    created          INTEGER NOT NULL,
    version          INTEGER NOT NULL
);
CREATE UNIQUE INDEX smartcards_card_id ON smartcards (card_id) WHERE status <> 6;
CREATE INDEX smartcards_user ON smartcards (user_uuid);
CREATE INDEX smartcards_request ON smartcards (request_uuid);
