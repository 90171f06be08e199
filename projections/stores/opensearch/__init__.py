"""What every OpenSearch view shares: versions (an index per version, an alias per pointer) and errors."""
