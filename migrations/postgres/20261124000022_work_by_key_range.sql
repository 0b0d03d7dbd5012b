-- A case's work is found by a range of the primary key (every work id starts with `{case id}/`),
-- which needs the key to compare bytewise; the index on `case_id` then goes, and with it an index
-- entry for every row version written (the engine writes several per piece of work).
alter table case_work alter column id type text collate "C";
drop index case_work_case;
