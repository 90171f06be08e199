"""The audit API: read-only access to the event stores for auditors and admins."""
