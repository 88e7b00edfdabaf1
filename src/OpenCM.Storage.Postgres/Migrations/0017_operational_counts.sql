-- The operator's gauges (issue #21.1) count the requests that wait and the certificates that run
-- out soon at every metrics refresh: each count reads only its own small partial index, never the
-- whole table. The predicates are repeated word for word in SqlOperationalCounts.
CREATE INDEX requests_open ON requests (status) WHERE status IN (3, 16, 18);
CREATE INDEX certificates_live_expiry ON certificates (not_after) WHERE status IN (0, 1);
