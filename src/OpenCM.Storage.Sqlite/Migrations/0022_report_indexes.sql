-- The managers' reports (issue #21.3) read by these keys, so that a page costs an index range and
-- never a scan of the table: certificates by the end of their validity (the expiry report's
-- keyset, notAfter then serial), audit events by their actor (one user's audit; the subject
-- already has audit_events_subject), requests by submission time (requests over a period).
-- Names start with reports_ so that no other change's index can collide with them.
CREATE INDEX reports_certificates_not_after ON certificates (not_after, serial);
CREATE INDEX reports_audit_events_actor ON audit_events (actor, seq);
CREATE INDEX reports_requests_submitted ON requests (submitted);
