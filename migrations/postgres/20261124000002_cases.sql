-- Recovery cases, their timeline, and the scheduled work (retries, messages, timers, end actions).
create table cases (
    id text primary key,
    tenant_id text not null references tenants (id),
    invoice_id text not null,
    customer_id text not null,
    customer_email text,
    customer_name text,
    subscription_id text,
    amount_due bigint not null,
    currency text not null,
    decline_code text,
    status text not null,
    sub_state text,
    recovered_by text,
    campaign_id text not null,
    campaign_version bigint not null,
    opened_at timestamptz,
    closed_at timestamptz,
    state text not null,
    version bigint not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    unique (tenant_id, invoice_id)
);
create index cases_tenant_status on cases (tenant_id, status, id);
create index cases_tenant_customer on cases (tenant_id, customer_id);

create table case_timeline (
    id bigserial primary key,
    case_id text not null references cases (id),
    at timestamptz not null,
    kind text not null,
    detail text not null,
    created_at timestamptz not null
);
create index case_timeline_case on case_timeline (case_id, id);

create table case_work (
    id text primary key,
    tenant_id text not null,
    case_id text not null references cases (id),
    kind text not null,
    due_at timestamptz not null,
    state text not null,
    detail text not null,
    result text,
    card_fingerprint text,
    executed_at timestamptz,
    runs bigint not null default 0,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index case_work_due on case_work (state, due_at);
create index case_work_case on case_work (case_id);
create index case_work_card on case_work (card_fingerprint, executed_at);

create table campaigns (
    tenant_id text not null references tenants (id),
    id text not null,
    version bigint not null,
    definition text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    primary key (tenant_id, id, version)
);
