-- A batch asks for its cases' unstarted work (`case_id in (…) and state in ('pending', 'queued')`):
-- one index answers both.
create index case_work_case_state on case_work (case_id, state);
drop index case_work_case;

-- Work queued or running is a handful of rows among every row ever planned; a test clock waiting
-- for it to drain counts it many times a second.
create index case_work_in_flight on case_work (state) where state in ('queued', 'running');
