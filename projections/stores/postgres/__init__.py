"""What every PostgreSQL view shares: units, versions and reads."""
