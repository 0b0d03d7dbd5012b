-- A case's work is found by a range of the primary key (every work id starts with `{case id}/`;
-- SQLite compares text bytewise): the index on `case_id` goes, one index entry less per row written.
drop index case_work_case;
