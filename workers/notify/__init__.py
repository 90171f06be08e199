"""Notifications: a transactional outbox of mails to shoppers and sellers, fed by their events."""
