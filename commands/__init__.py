"""Command side: one eventsourcing Application per bounded context, and their handlers."""
