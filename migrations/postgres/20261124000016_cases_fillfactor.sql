-- A case is saved several times while it stays open, and most saves change no indexed column (the
-- status changes twice in a case's life). With room left on its page, such an update is HOT: no
-- new entry in any of the table's indexes, and the old version is pruned in place.
alter table cases set (fillfactor = 70);
