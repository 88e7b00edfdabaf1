-- Server-proposed PINs (issue #8): the request a card's PIN was last proposed for, so that a PIN
-- is handed out once per execution (compare-and-set on this column).
ALTER TABLE smartcards ADD COLUMN pin_request TEXT NOT NULL DEFAULT '';
