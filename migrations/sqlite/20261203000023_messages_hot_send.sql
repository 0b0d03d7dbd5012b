-- Addresses that refused a message for good are a table of their own, written on the rare permanent
-- failure, instead of an index over every message's address and status that each send rewrote (an
-- address shared by many customers also made that lookup read all their messages). A customer's
-- recent messages are found by tenant and customer, then filtered on `sent_at`, so a send changes
-- no indexed column (see the PostgreSQL migration of the same name).
create table refused_addresses (
    tenant_id text not null,
    address text not null,
    message_id text not null,
    refused_at text not null,
    primary key (tenant_id, address)
);
insert or ignore into refused_addresses (tenant_id, address, message_id, refused_at)
select tenant_id, to_address, id, updated_at
  from messages where status = 'failed'
 order by tenant_id, to_address, updated_at;
drop index messages_address;
drop index messages_customer_sent;
create index messages_customer on messages (tenant_id, customer_id);
