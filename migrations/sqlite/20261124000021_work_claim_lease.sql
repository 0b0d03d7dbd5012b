-- A run claims a row by stamping `claimed_at`, leaving it `pending`: the claim then changes no indexed
-- column. The row leaves `pending` only when its run finishes.
alter table case_work add column claimed_at text;
update case_work set state = 'pending', claimed_at = updated_at where state = 'running';
drop index case_work_running;
