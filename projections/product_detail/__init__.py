"""Product detail and availability: one Redis document per product, kept current as stock moves."""
