-- The status audit is read by session only: its primary key becomes the
-- session order that the separate index kept, and that index goes (one
-- index fewer to write per status change). Audit ids come from the
-- service-wide id counter, so they stay unique.
ALTER TABLE status_audit DROP CONSTRAINT status_audit_pkey;
ALTER TABLE status_audit ADD PRIMARY KEY (company_id, session_id, audit_id);
DROP INDEX status_audit_by_session;
