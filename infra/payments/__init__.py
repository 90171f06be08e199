"""The card gateway: a sandbox service with faults, and the client with retries and a breaker."""
