-- The status audit is read by session only. It becomes one B-tree in that
-- order (a WITHOUT ROWID table keyed by company, session and audit id)
-- instead of a rowid table with two indexes. A batch of 1,000 events whose
-- 125 sessions became billable wrote 269 of its 1,403 WAL pages to
-- those three B-trees. Audit ids come from the service-wide id counter, so
-- they stay unique.
CREATE TABLE status_audit_in_session_order (
    company_id BIGINT NOT NULL,
    audit_id BIGINT NOT NULL,
    session_id BIGINT NOT NULL,
    at_us BIGINT NOT NULL,
    old_status TEXT,
    new_status TEXT,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY (company_id, session_id, audit_id)
) WITHOUT ROWID;
INSERT INTO status_audit_in_session_order
    (company_id, audit_id, session_id, at_us, old_status, new_status, reason, actor)
SELECT company_id, audit_id, session_id, at_us, old_status, new_status, reason, actor
FROM status_audit;
DROP TABLE status_audit;
ALTER TABLE status_audit_in_session_order RENAME TO status_audit;
