-- Where a tenant's task steps are delivered (a signed JSON POST). The URL and the signing secret are
-- both encrypted: a Slack incoming-webhook URL is itself a credential.
create table task_destinations (
    tenant_id text primary key references tenants (id),
    url_enc text not null,
    secret_enc text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
