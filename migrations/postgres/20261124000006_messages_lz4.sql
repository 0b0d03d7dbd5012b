-- Every email's bodies (several KiB of text and HTML) are compressed on insert into the outbox; pglz
-- showed in the database's profile under the engine benchmark. As for payloads and case states, lz4
-- where the server has it (the statement is dynamic so it cannot fail the migration).
do $$
begin
    execute 'alter table messages alter column body_text set compression lz4';
    execute 'alter table messages alter column body_html set compression lz4';
exception when others then
    raise notice 'lz4 compression unavailable; message bodies stay compressed with pglz';
end
$$;
