-- Ids, codes and statuses are compared byte for byte. Under the database's collation (C.UTF-8 in
-- the benchmark, often en_US.UTF-8 in production, where each comparison costs more) every comparison
-- of two different keys in a btree went through strcoll, on keys (uuids, Stripe ids, status codes)
-- that have no linguistic order. For ASCII keys the order is unchanged.
--
-- Every text column of this schema's tables takes the collation, so that no comparison between two
-- of them mixes collations (which PostgreSQL refuses). The large payloads (those with a compression
-- method of their own: message bodies, case states) are never compared and keep their settings. A
-- collation change keeps the data in place; PostgreSQL rebuilds the indexes on the columns.
do $$
declare
    t record;
begin
    for t in
        select c.relname as table_name,
               string_agg(format('alter column %I type text collate "C"', a.attname), ', '
                          order by a.attnum) as alters
          from pg_class c
          join pg_namespace n on n.oid = c.relnamespace
          join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
         where n.nspname = current_schema()
           and c.relkind = 'r'
           and c.relname <> '_sqlx_migrations'
           and a.atttypid = 'text'::regtype
           and a.attcompression = ''
         group by c.relname
    loop
        execute format('alter table %I %s', t.table_name, t.alters);
    end loop;
end
$$;
