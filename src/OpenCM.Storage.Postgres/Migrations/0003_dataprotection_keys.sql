-- ASP.NET Core data-protection keys (the portal's session and antiforgery cookies), sealed
-- under the master key before they are stored: in the database, so that every node of a cluster
-- reads the same key ring (issue #9, #10).
CREATE TABLE dataprotection_keys (
    name TEXT PRIMARY KEY,
    xml  TEXT NOT NULL
);
