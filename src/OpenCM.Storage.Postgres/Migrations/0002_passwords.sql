-- Portal sign-in for directory users (issue #10): the password hash ASP.NET Core Identity's
-- hasher made (PBKDF2, salted, its own format); NULL for users who sign in only with tokens.
ALTER TABLE principals ADD COLUMN password_hash TEXT NULL;
