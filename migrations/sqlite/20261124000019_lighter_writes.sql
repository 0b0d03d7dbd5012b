-- Recording how a send went changes a message's `status` and `sent_at`. With neither in an index
-- (a customer or an address has a handful of messages; the rest of those filters reads the rows),
-- that update touches no index.
drop index if exists messages_customer_sent;
create index messages_customer on messages (tenant_id, customer_id);
drop index if exists messages_address;
create index messages_to_address on messages (to_address);
