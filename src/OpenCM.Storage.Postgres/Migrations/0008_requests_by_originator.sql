-- A user's requests by template and status (issue #18.5): request creation counts the
-- originator's pending requests from a template, inside its unit of work, to cap them.
CREATE INDEX requests_originator ON requests (originator, template, status);
