-- Tenants, service settings and the webhook inbox.
create table tenants (
    id text primary key,
    name text not null,
    status text not null default 'active',
    api_key_hash text not null unique,
    stripe_secret_key_enc text,
    stripe_api_base text,
    webhook_secrets_enc text not null,
    locale text not null default 'en',
    time_zone text not null default 'UTC',
    mode text not null default 'manage',
    branding text not null default '{}',
    support text not null default '{}',
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table service_settings (
    key text primary key,
    value text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table events (
    id text primary key,
    tenant_id text not null references tenants (id),
    provider text not null,
    provider_event_id text not null,
    event_type text not null,
    object_id text,
    livemode boolean,
    api_version text,
    provider_created_at timestamptz,
    payload text not null,
    status text not null default 'received',
    attempts bigint not null default 0,
    last_error text,
    next_attempt_at timestamptz not null,
    claimed_until timestamptz,
    processed_at timestamptz,
    received_at timestamptz not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    unique (tenant_id, provider, provider_event_id)
);

create index events_due on events (status, next_attempt_at);
create index events_tenant_received on events (tenant_id, received_at, id);
