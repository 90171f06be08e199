"""Product images: checking an upload before anything is recorded, rendering its variants."""
