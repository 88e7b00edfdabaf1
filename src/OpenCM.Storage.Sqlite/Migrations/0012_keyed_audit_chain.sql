-- Issue #18 (decision 0010). The client's X-Correlation-Id, beside the server's own correlation id
-- rather than in its place; events from before carry none. And where the keyed part of the chain
-- begins: NULL until the first start after this migration appends the checkpoint.
ALTER TABLE audit_events ADD COLUMN client_correlation TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_head ADD COLUMN keyed_from INTEGER NULL;
