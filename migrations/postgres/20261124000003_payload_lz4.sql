-- Webhook payloads (a few KiB of JSON) are compressed on insert; PostgreSQL's default pglz cost a
-- tenth of the database's CPU under a burst of deliveries. lz4 is several times cheaper. Servers built
-- without lz4 (or older than 14) keep pglz: the statement is dynamic so it cannot fail the migration.
do $$
begin
    execute 'alter table events alter column payload set compression lz4';
exception when others then
    raise notice 'lz4 compression unavailable; payloads stay compressed with pglz';
end
$$;
