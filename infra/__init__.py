"""Settings, store clients, logging, metrics, local services and deployment."""
