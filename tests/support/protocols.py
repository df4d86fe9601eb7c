"""Whether an object really implements a Protocol: every member present, every method callable as declared."""

from __future__ import annotations

import inspect
from typing import Any


def mismatches(implementation: object, protocol: type) -> list[str]:
    """What `implementation` (a class, or an instance for attributes set in __init__) lacks or declares differently.

    A method matches when the protocol's parameters come first with the same names, kinds and defaults; it may add
    parameters of its own only with defaults (a caller of the protocol never passes them).
    """
    problems = []
    for name in getattr(protocol, "__annotations__", {}):
        if not hasattr(implementation, name):
            problems.append(f"attribute {name} is missing")
    for name, member in vars(protocol).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        mine = getattr(implementation, name, None)
        if not callable(mine):
            problems.append(f"method {name} is missing")
            continue
        if not inspect.isclass(implementation):
            mine = getattr(type(implementation), name)
        declared, actual = _shape(member), _shape(mine)
        extra = actual[len(declared) :]
        if actual[: len(declared)] != declared or any(
            default is inspect.Parameter.empty for *_, default in extra
        ):
            problems.append(f"{name}{inspect.signature(mine)} differs from {name}{inspect.signature(member)}")
    return problems


def _shape(function: Any) -> list[tuple[str, Any, Any]]:
    """A signature without annotations: each parameter's name, kind and default."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]
