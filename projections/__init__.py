"""Read side: projections that follow the event logs and the views they keep."""
