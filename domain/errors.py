"""Domain errors: a rule of the marketplace said no."""


class DomainError(Exception):
    """A command broke a business rule; the aggregate is unchanged."""


class NotFound(DomainError):
    """The aggregate the command names does not exist."""


class InvalidValue(DomainError):
    """A value is outside what the domain accepts."""


class RuleViolated(DomainError):
    """The command conflicts with the aggregate's current state."""


class InsufficientStock(RuleViolated):
    """Fewer units are available than the command asks for."""


class PurchaseLimitExceeded(RuleViolated):
    """The buyer would hold or buy more units of a product than its purchase limit allows."""
