-- A run claims a row by stamping `claimed_at`, leaving it `pending`: no indexed column changes, so
-- with room on its page the claim is a HOT update (no new entry in any of the table's indexes, where
-- a change of `state` made one in each). The row still leaves `pending` only when its run finishes.
alter table case_work add column claimed_at timestamptz;
alter table case_work set (fillfactor = 70);
update case_work set state = 'pending', claimed_at = updated_at where state = 'running';
drop index case_work_running;
