"""Local servers only the tests and the benchmarks start (nginx, OpenSearch); never the runtime."""
