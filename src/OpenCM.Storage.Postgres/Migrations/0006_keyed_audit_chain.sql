-- Issue #18 (decision 0010). The client's X-Correlation-Id, beside the server's own correlation id
-- rather than in its place; events from before carry none. And where the keyed part of the chain
-- begins: NULL until the first start after this migration appends the checkpoint.
ALTER TABLE audit_events ADD COLUMN client_correlation TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT NULL;

-- The row triggers of 0001 do not see TRUNCATE, which removes every event at once: refused here
-- by a statement-level trigger. Only the tables' owner can disable triggers, which is why the
-- serving role should not be the owner (docs/security.md, "Database roles").
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
