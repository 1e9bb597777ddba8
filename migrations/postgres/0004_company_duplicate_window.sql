-- The DUPL window is stored with the company (SPEC §3), so that every
-- process, serve or import, derives the same statuses. Set when a company
-- is created (from --duplicate-window-minutes unless given) and changed only
-- through PUT /operator/companies/{id}. Companies created before this column
-- have NULL, read as the running process's --duplicate-window-minutes, as
-- before, until a one-time step fills it in.
ALTER TABLE companies ADD COLUMN duplicate_window_minutes BIGINT;
