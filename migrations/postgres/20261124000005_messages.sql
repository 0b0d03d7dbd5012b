-- The outbox: every message to a customer is a row before it is sent, keyed by the campaign step it
-- carries out, so a step sends at most one message whatever crashes or re-runs.
create table messages (
    id text primary key,
    tenant_id text not null references tenants (id),
    case_id text not null,
    customer_id text not null,
    kind text not null,
    to_address text not null,
    locale text not null,
    subject text not null,
    body_text text not null,
    body_html text not null,
    transport text not null,
    -- sending: handed to the transport, outcome not yet recorded; sent; failed (permanent); unknown
    -- (a run died while sending: not sent again, since it may have gone out).
    status text not null,
    attempts bigint not null default 0,
    error text,
    created_at timestamptz not null,
    sent_at timestamptz,
    updated_at timestamptz not null
);
-- Touch caps: messages sent to a customer in a window.
create index messages_customer_sent on messages (tenant_id, customer_id, sent_at);
create index messages_case on messages (case_id);
-- An address that refused a message for good gets no more.
create index messages_address on messages (to_address, status);
