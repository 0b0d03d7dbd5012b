-- A batch asks for its cases' unstarted work (`case_id in (…) and state in ('pending', 'queued')`).
-- With an index on case_id alone the planner ANDed it with a bitmap of every pending row (the
-- (state, due_at) index), which grows with the number of open cases.
create index case_work_case_state on case_work (case_id, state);
drop index case_work_case;

-- Work queued or running is a handful of rows among every row ever planned; a test clock waiting
-- for it to drain counts it many times a second.
create index case_work_in_flight on case_work (state) where state in ('queued', 'running');

-- The case's whole state (a few KiB of JSON) is rewritten by every save; pglz was the largest single
-- cost of the database's CPU under the engine benchmark. As for payloads, lz4 where the server has it.
do $$
begin
    execute 'alter table cases alter column state set compression lz4';
exception when others then
    raise notice 'lz4 compression unavailable; case states stay compressed with pglz';
end
$$;
