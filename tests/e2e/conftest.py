"""End-to-end fixtures: a `marketplace up` stack on free ports."""

from tests.e2e.stack import stack

__all__ = ["stack"]
