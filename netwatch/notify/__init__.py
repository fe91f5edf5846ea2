"""Delivery of notices: the durable outbox, senders (apprise, HTTP gateways, GSM modem), texts."""
