"""What every Redis view shares: units, versions and folded writes."""
