-- Work due is now put on the queue without being marked `queued` (a run claims it while `pending`
-- and due): rows a previous version left queued go back to pending, to be pushed again.
update case_work set state = 'pending' where state = 'queued';
