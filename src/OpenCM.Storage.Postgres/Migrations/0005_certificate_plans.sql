-- What the CA is to sign, on record with the reserved serial before it signs (issue #17, after
-- boulder): the SHA-256 of the certificate's plan (CertificatePlan.Sha256Hex). Rows from before
-- have none.
ALTER TABLE certificates ADD COLUMN plan_sha256 TEXT NULL;
