"""Command routes, one module per resource."""
