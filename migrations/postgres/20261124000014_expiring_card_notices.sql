-- Opt-in: a notice with the card-update link when a customer's card is about to expire.
alter table tenants add column expiring_card_notices boolean not null default false;
