-- How session-ledger's PostgreSQL schema is distributed on Citus, by company.
-- Run once on the coordinator, after `session-ledger serve` (or `import`) has
-- applied the migrations and before the first tenant writes:
--   psql "$COORDINATOR_URL" -v ON_ERROR_STOP=1 -f scripts/citus-distribute.sql
-- Every table of the schema is named here exactly once; the PostgreSQL suite's
-- `distribution` test holds the schema to it (tests/postgres/distribution.rs).

-- Platform-wide and small: replicated to every worker, joined locally.
SELECT create_reference_table('support_agents');
SELECT create_reference_table('one_time_steps');
SELECT create_reference_table('access_audit_settings');

-- Company-owned: distributed by company and colocated, so every tenant
-- query, every foreign key and the company row lock stay on one shard.
SELECT create_distributed_table('companies', 'company_id');
SELECT create_distributed_table('api_keys', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('persons', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('person_emails', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('users', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('sessions', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('participations', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('calls', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('status_audit', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('journal', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('webhooks', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('webhook_events', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('webhook_deliveries', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('webhook_attempts', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('webhook_marks', 'company_id', colocate_with => 'companies');
-- The access audit's platform chain (operator requests naming no company)
-- is company 0: one shard holds it.
SELECT create_distributed_table('access_audit', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('access_audit_chains', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('console_passwords', 'company_id', colocate_with => 'companies');

-- The indexes that do not lead with company_id, declared here (the
-- distribution test reads these lines): the webhook delivery queue every
-- node polls across companies, and the console's sign-in by e-mail, made
-- before the company is known. On Citus each shard keeps its own part of
-- them, and such a query runs on every shard.
-- cross-company index: webhook_deliveries_due
-- cross-company index: users_by_lower_email

-- Lookups from an id that is not the company's (a session id in an operator
-- call, a provider's room id, an unmatched provider event): distributed by
-- that id, so each lookup is single-shard; not colocated with companies.
SELECT create_distributed_table('session_directory', 'session_id', colocate_with => 'none');
SELECT create_distributed_table('provider_rooms', 'room_id', colocate_with => 'none');
SELECT create_distributed_table('provider_unmatched', 'unmatched_id', colocate_with => 'none');
-- The console's sign-in links and sessions are found by their secret's hash
-- before any company is known (an operator's session has none).
SELECT create_distributed_table('console_links', 'guid_hash', colocate_with => 'none');
SELECT create_distributed_table('console_sessions', 'token_hash', colocate_with => 'none');
