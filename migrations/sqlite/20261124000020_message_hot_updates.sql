-- As on PostgreSQL (where the point is HOT updates of sent messages): refused addresses get a table
-- of their own, and the touch cap's index no longer holds sent_at, which every send changes.

-- Whether an address refused a message for good, per tenant: one key lookup, however many
-- messages went to that address.
create table refused_addresses (
    tenant_id text not null references tenants (id),
    address text not null,
    -- The message that was refused first, and why: what the operator looks up.
    message_id text not null,
    reason text,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, address)
);
-- The first refusal of each address is kept: rows go in in that order, later ones are ignored.
insert or ignore into refused_addresses (tenant_id, address, message_id, reason, created_at, updated_at)
select tenant_id, to_address, id, error, updated_at, updated_at
from messages
where status = 'failed'
order by updated_at, id;
drop index messages_address;

-- A message is filed for the touch cap by its creation, or by its sending when that came more than
-- a day later (store::messages::LATE). Marking more rows than that is harmless (a late_sent_at is
-- always after created_at), so julianday's rounding only needs a margin.
alter table messages add column late_sent_at text;
update messages set late_sent_at = sent_at
where sent_at is not null and julianday(sent_at) > julianday(created_at) + 0.99;
create index messages_customer_touch
    on messages (tenant_id, customer_id, coalesce(late_sent_at, created_at));
drop index messages_customer_sent;
