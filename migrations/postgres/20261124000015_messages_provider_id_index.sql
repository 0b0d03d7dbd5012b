-- Delivery webhooks name a message by the provider's id.
create index messages_provider_id on messages (provider_message_id) where provider_message_id is not null;
