-- A user's e-mail address and user principal name (issue #20.6): what a template's subject and
-- SANs may name ({email}, {upn}); empty for users made before, and for groups.
ALTER TABLE principals ADD COLUMN email TEXT;
ALTER TABLE principals ADD COLUMN upn TEXT;
