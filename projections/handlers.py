"""How a projection finds the handler of an event: its @handles methods, by event class.

A method marked @handles(Product.Listed, Product.DetailsUpdated) takes (self, event, unit)
for those event classes and their subclasses. When a class is made, its handlers and its
bases' are collected into one table; an event goes to the handler registered for the
nearest class in the event's MRO, a lookup cached per class and event class. An event
that no handler takes is not the class's business: there is no list of events to ignore.

Why not functools.singledispatchmethod: its registry belongs to one method object, so a
subclass would share (and mutate) its base's registry instead of extending a copy; one
handler for several classes needs a stack of register calls; and each call goes through
a descriptor that builds a new bound function. Here a subclass inherits its bases'
handlers, may register an event class again to override one, and dispatch is one dict
lookup per event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import FunctionType, MappingProxyType
from typing import Any, ClassVar, TypeVar

Handler = Callable[[Any, Any, Any], None]
"""A handler method as found in the class: called with (self, event, unit)."""

H = TypeVar("H", bound=Callable[..., None])
V = TypeVar("V")

_MARK = "__handles_events__"


def handles(*event_types: type) -> Callable[[H], H]:
    """Mark a plain method as the handler of these event classes and of their subclasses."""

    def mark(method: H) -> H:
        if not isinstance(method, FunctionType):
            raise TypeError(f"@handles marks plain methods, not {method!r}")
        setattr(method, _MARK, (*getattr(method, _MARK, ()), *event_types))
        return method

    return mark


def nearest(table: Mapping[type, V], event_type: type) -> V:
    """What table holds for event_type or, failing that, its nearest base class in table."""
    return next(table[key] for key in event_type.__mro__ if key in table)


class EventHandlers:
    """A class whose @handles methods take events by class.

    Registering one event class twice in one class body raises TypeError when the class
    is made. A subclass that registers an event class its base handles overrides that
    handler; one that redefines a handler method by name overrides it for its classes.
    """

    handlers: ClassVar[Mapping[type, Handler]] = MappingProxyType({})
    """The handler of each registered event class (its subclasses go there too)."""
    _resolved: ClassVar[dict[type, Handler | None]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[type, str] = {}
        for klass in reversed(cls.__mro__):
            own: dict[type, str] = {}
            for attribute, value in vars(klass).items():
                marked = getattr(value, _MARK, ()) if isinstance(value, FunctionType) else ()
                for event_type in marked:
                    if event_type in own:
                        raise TypeError(
                            f"{klass.__qualname__} handles {event_type.__qualname__} twice"
                        )
                    own[event_type] = attribute
            table.update(own)
        cls.handlers = MappingProxyType({key: getattr(cls, name) for key, name in table.items()})
        cls._resolved = {}

    @classmethod
    def handler_for(cls, event_type: type) -> Handler | None:
        """The handler that takes events of this class, or None if none does."""
        try:
            return cls._resolved[event_type]
        except KeyError:
            found = (cls.handlers[key] for key in event_type.__mro__ if key in cls.handlers)
            handler = cls._resolved[event_type] = next(found, None)
            return handler
