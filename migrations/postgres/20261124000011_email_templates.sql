-- A tenant's own templates for a message in a locale; a null part keeps the built-in one.
create table email_templates (
    tenant_id text not null references tenants (id),
    kind text not null,
    locale text not null,
    subject text,
    html text,
    text text,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    primary key (tenant_id, kind, locale)
);
