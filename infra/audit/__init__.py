"""Tamper evidence of the event logs: hash chains, signed checkpoints of their heads, and the
verification that recomputes one against the other."""
