"""The audit API's routes."""
