"""Store plumbing shared by the read models: PostgreSQL, Redis and OpenSearch."""
