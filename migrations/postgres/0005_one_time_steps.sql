-- Data repairs that SQL alone cannot make (they replay the journal), run
-- by the service right after the migrations, each once per database and
-- recorded here with the number of rows it changed (docs/decisions.md,
-- "Storage"). A platform-wide reference table, like support_agents.
CREATE TABLE one_time_steps (
    step_name TEXT NOT NULL PRIMARY KEY,
    done_us BIGINT NOT NULL,
    rows_changed BIGINT NOT NULL
);
