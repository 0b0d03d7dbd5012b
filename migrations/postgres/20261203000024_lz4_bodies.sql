-- A message's bodies (about 3 KB) and a case's state (1.5-2 KB of JSON) are compressed on every
-- write; lz4 does it several times faster than the default pglz, for about the same size. Only where
-- the server was built with lz4 (PostgreSQL 14+ usually is); elsewhere pglz stays.
do $$
begin
    if exists (select 1 from pg_settings
                where name = 'default_toast_compression' and 'lz4' = any(enumvals)) then
        alter table messages alter column body_html set compression lz4,
                             alter column body_text set compression lz4;
        alter table cases alter column state set compression lz4;
    end if;
end
$$;
