-- What a protocol front-end (EST, SCEP, ACME; issue #24.1) submitted with a device request, kept
-- beside the request from its creation so that it can be issued once approved, however late the
-- client polls. One row per request. client_reference is the client's own handle (SCEP's
-- transactionID, ACME's order id), unique per protocol and caller: a client's retry finds its
-- first request instead of making another. csr is the PKCS#10 request as base64 DER; names the
-- requested names as JSON ([{"Kind":"Dns","Value":"a.test"}]). created is UTC ticks.
CREATE TABLE device_submissions (
    request_uuid     TEXT PRIMARY KEY,
    protocol         TEXT NOT NULL,
    caller_uuid      TEXT NOT NULL,
    client_reference TEXT NULL,
    csr              TEXT NOT NULL,
    names            TEXT NOT NULL,
    created          BIGINT NOT NULL
);
CREATE UNIQUE INDEX device_submissions_by_reference ON device_submissions (protocol, caller_uuid, client_reference) WHERE client_reference IS NOT NULL;
