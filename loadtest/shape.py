"""The traffic ramp as a Locust load shape (see plan.stage_at)."""

from __future__ import annotations

from locust import LoadTestShape

from loadtest.plan import LoadOptions, stage_at


class BlackFridayShape(LoadTestShape):
    """A ramp to the peak, a flash-sale crowd in the middle, then the peak until the end."""

    def __init__(self, options: LoadOptions) -> None:
        super().__init__()
        self.options = options

    def tick(self) -> tuple[int, float] | None:
        """The users and spawn rate for now; None ends the run."""
        return stage_at(self.options, self.get_run_time())
