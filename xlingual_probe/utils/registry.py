"""A registry is a dict plus a decorator; a failed lookup lists the valid names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from xlingual_probe.utils.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (tasks, model adapters, ...).

    >>> colours = Registry("colour")
    >>> @colours.register("red")
    ... def red(): return "#f00"
    >>> colours.get("red")()
    '#f00'
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    xlingual_probe.utils.errors.UserError: unknown colour 'blue'; choose one of: red
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UserError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
