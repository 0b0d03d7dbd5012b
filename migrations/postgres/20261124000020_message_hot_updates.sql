-- Recording a send updates the message's status, sent_at and error. Two indexes held columns that
-- update changes, so every send also inserted a new entry into each of the table's five indexes; with
-- none of them changing, and room on the page, the update is HOT.

-- Whether an address refused a message for good is asked before every email, per tenant as the
-- outbox was asked. Asking the outbox read every message to that address: a shared address (a
-- billing mailbox) gets thousands. One row per refused address keeps it one key lookup.
create table refused_addresses (
    tenant_id text not null references tenants (id),
    address text not null,
    -- The message that was refused first, and why: what the operator looks up.
    message_id text not null,
    reason text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    primary key (tenant_id, address)
);
insert into refused_addresses (tenant_id, address, message_id, reason, created_at, updated_at)
select distinct on (tenant_id, to_address) tenant_id, to_address, id, error, updated_at, updated_at
from messages
where status = 'failed'
order by tenant_id, to_address, updated_at, id;
drop index messages_address;

-- The touch cap counts the messages sent in its window and those still on their way that were
-- created in it. sent_at changes on every send, so the cap's index files a message by its creation
-- instead; one sent more than a day after it (its transport deferred it that long: re-sends are not
-- bounded) is filed by that late sending time, which is written only then. Every message the cap
-- counts from T is then at T - 1 day or later in this index (store::messages::LATE).
alter table messages add column late_sent_at timestamptz;
update messages set late_sent_at = sent_at where sent_at > created_at + interval '1 day';
create index messages_customer_touch
    on messages (tenant_id, customer_id, (coalesce(late_sent_at, created_at)));
drop index messages_customer_sent;

-- A batch's messages are inserted together (sharing pages) and their sends recorded together, in
-- one transaction: no old version can be pruned before the last row of a page is updated, so a
-- page needs room for a new version of every row it holds. At 80, a fifth of the updates found
-- room; at 50, all. The price is a heap about twice as large as the rows.
alter table messages set (fillfactor = 50);
