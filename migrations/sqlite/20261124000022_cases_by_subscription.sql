-- A subscription's end (deleted, or cancelled by the processor) closes its cases: they are found by
-- the subscription, not by reading the tenant's recent cases.
create index cases_tenant_subscription on cases (tenant_id, subscription_id);
