"""The query API's routes, one module per resource."""
