-- The hosted page a tenant's card-update links lead to: billing_portal or checkout.
alter table tenants add column card_update text not null default 'billing_portal';
