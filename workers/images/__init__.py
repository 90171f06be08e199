"""The image worker: renders each product image into its variants off the request path."""
