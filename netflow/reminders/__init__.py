"""Reminders: record events from evaluations, build digests into the outbox, send them."""
