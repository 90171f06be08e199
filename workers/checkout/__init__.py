"""The checkout book: the due work of orders in checkout (deadlines and gateway calls)."""
