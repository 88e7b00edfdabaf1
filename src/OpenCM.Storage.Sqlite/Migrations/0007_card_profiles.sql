-- Smart card profiles (issue #8). A profile issued onto a card names it (smartcard_uuid; the zero
-- GUID for software profiles), so a card's certificates are its profiles' certificates and a request
-- on a card acts on the card's live profile. primary_uuid is the card a Duplicate copies
-- (the reference's PrimarySmartcardUuid).
ALTER TABLE profiles ADD COLUMN smartcard_uuid TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
CREATE INDEX profiles_smartcard ON profiles (smartcard_uuid) WHERE smartcard_uuid <> '00000000-0000-0000-0000-000000000000';
ALTER TABLE smartcards ADD COLUMN primary_uuid TEXT NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
