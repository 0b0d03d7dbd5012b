-- No row is `queued` any more: the index of rows in flight holds the running ones, under the very
-- predicate the queries use (SQLite uses a partial index only for a WHERE that matches its own).
drop index case_work_in_flight;
create index case_work_running on case_work (state) where state = 'running';
