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
    WHEN length(user_id::text) >= 10 THEN 'sv' || user_id::text
    ELSE 'sv' || lpad(user_id::text, 10, '0')
END;
UPDATE users SET default_resolution = 'high' WHERE default_resolution = '';
UPDATE participations SET should_auto_deliver_code = 'E' WHERE is_host = TRUE;

ALTER TABLE participations ALTER COLUMN connect_code TYPE BIGINT USING (CASE
    WHEN connect_code ~ '^[0-9]{1,9}$'
        THEN CASE WHEN connect_code::bigint >= 100000000 THEN connect_code::bigint
                  ELSE connect_code::bigint + 900000000 END
    ELSE 100000000 + participation_id % 900000000
END);

ALTER TABLE sessions ALTER COLUMN connect_code TYPE BIGINT USING (CASE
    WHEN connect_code ~ '^[0-9]{1,9}$'
        THEN CASE WHEN connect_code::bigint >= 100000000 THEN connect_code::bigint
                  ELSE connect_code::bigint + 900000000 END
    ELSE 100000000 + session_id % 900000000
END);
