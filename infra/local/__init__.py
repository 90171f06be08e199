"""Local services for the embedded default and the tests, from pip-installed wheels."""
