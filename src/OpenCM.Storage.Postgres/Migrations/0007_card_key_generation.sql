-- A card record's admin key diversifier (issue #18.7): each binding of a physical card takes one
-- more than the last record of that card id, and the KDF context carries it, so the next holder
-- of a card id never gets the previous holder's admin key. Records from before keep 0, whose key
-- is derived from the card id alone, as before: cards in the field keep working.
ALTER TABLE smartcards ADD COLUMN key_generation INTEGER NOT NULL DEFAULT 0;
