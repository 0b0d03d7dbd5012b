-- At fillfactor 70 about a third of the saves of an open case and a sixth of the claims of work found
-- no room on their page for the new version, so they wrote a new entry in every index of the table
-- instead of a HOT update. Both tables' rows are rewritten several times while they are live.
alter table cases set (fillfactor = 50);
alter table case_work set (fillfactor = 50);
