-- Every piece of case work is updated three or four times (queued, running, done), and every update
-- changes `state`, so none is HOT: each one inserted into every index on the table. Partial indexes
-- hold only the rows their queries look for, and an update inserts only into those whose predicate
-- the new row meets.
-- The scheduler: pending work by due time.
drop index case_work_due;
create index case_work_pending_due on case_work (due_at, id) where state = 'pending';
-- A test clock waiting for work to drain counts these many times a second.
create index case_work_in_flight on case_work (state) where state in ('queued', 'running');
-- Network limits: attempts actually sent, per card.
drop index case_work_card;
create index case_work_card_attempts on case_work (card_fingerprint, executed_at) where executed_at is not null;
