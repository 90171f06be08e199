"""What every OpenSearch view shares: versions (an index and aliases) and errors."""
