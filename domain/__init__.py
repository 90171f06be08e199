"""The pure marketplace model: aggregates, their events, value objects and domain errors."""
