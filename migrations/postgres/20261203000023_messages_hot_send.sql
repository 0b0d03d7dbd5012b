-- Marking a message sent changed two indexed columns (`status` in `messages_address`, `sent_at` in
-- `messages_customer_sent`), so every send wrote a whole new row version (about 2 KB) and an entry in
-- each of the table's indexes. Now the update changes no indexed column and, with room on its page,
-- is HOT:
--  * addresses that refused a message for good are a table of their own, written on the rare
--    permanent failure, instead of an index over every message's address and status (an address
--    shared by many customers made that lookup read all their messages);
--  * a customer's recent messages are found by tenant and customer (a handful of rows), then
--    filtered on `sent_at`.
create table refused_addresses (
    tenant_id text not null,
    address text not null,
    -- The message that was refused, and when.
    message_id text not null,
    refused_at timestamptz not null,
    primary key (tenant_id, address)
);
insert into refused_addresses (tenant_id, address, message_id, refused_at)
select distinct on (tenant_id, to_address) tenant_id, to_address, id, updated_at
  from messages where status = 'failed'
 order by tenant_id, to_address, updated_at;
drop index messages_address;
drop index messages_customer_sent;
create index messages_customer on messages (tenant_id, customer_id);
alter table messages set (fillfactor = 50);
