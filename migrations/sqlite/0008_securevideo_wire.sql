-- SecureVideo's wire form (SPEC §5, §6), for data stored before it:
-- - every user gets its VideoId, 'sv' and the user id in at least 10
--   digits (as a new user's is derived);
-- - an empty DefaultResolution becomes 'high', SecureVideo's default;
-- - the host's own participation delivers its code by e-mail ('E');
-- - connect codes become numbers. A code of 9 digits whose first is not 0
--   is kept; one of 1 to 9 digits that an integer cannot keep (a leading
--   zero) gets a new code, its value plus 900000000, the rule by which an
--   import reads such a code from an older log, so an export taken before
--   this migration still imports to the same codes. Any other text (only
--   an imported log could have stored one) gets 100000000 plus the id
--   modulo 900000000.
ALTER TABLE users ADD COLUMN video_id TEXT NOT NULL DEFAULT '';
UPDATE users SET video_id = CASE
    WHEN length(CAST(user_id AS TEXT)) >= 10 THEN 'sv' || user_id
    ELSE 'sv' || substr('0000000000' || user_id, -10)
END;
UPDATE users SET default_resolution = 'high' WHERE default_resolution = '';
UPDATE participations SET should_auto_deliver_code = 'E' WHERE is_host = TRUE;

ALTER TABLE participations ADD COLUMN connect_number BIGINT NOT NULL DEFAULT 0;
UPDATE participations SET connect_number = CASE
    WHEN connect_code <> '' AND length(connect_code) <= 9 AND connect_code NOT GLOB '*[^0-9]*'
        THEN CASE WHEN CAST(connect_code AS INTEGER) >= 100000000 THEN CAST(connect_code AS INTEGER)
                  ELSE CAST(connect_code AS INTEGER) + 900000000 END
    ELSE 100000000 + participation_id % 900000000
END;
ALTER TABLE participations DROP COLUMN connect_code;
ALTER TABLE participations RENAME COLUMN connect_number TO connect_code;

ALTER TABLE sessions ADD COLUMN connect_number BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET connect_number = CASE
    WHEN connect_code <> '' AND length(connect_code) <= 9 AND connect_code NOT GLOB '*[^0-9]*'
        THEN CASE WHEN CAST(connect_code AS INTEGER) >= 100000000 THEN CAST(connect_code AS INTEGER)
                  ELSE CAST(connect_code AS INTEGER) + 900000000 END
    ELSE 100000000 + session_id % 900000000
END;
ALTER TABLE sessions DROP COLUMN connect_code;
ALTER TABLE sessions RENAME COLUMN connect_number TO connect_code;
