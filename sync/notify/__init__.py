"""Warnings by email: a transactional outbox, rendering, and delivery over SMTP (or Graph)."""
