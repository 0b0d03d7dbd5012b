-- The id an HTTP email API gives an accepted message, to find it in the provider's logs and events.
alter table messages add column provider_message_id text;
