"""Every architecture registered by name; `create_model` builds one."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from torch import nn

ModelFn = Callable[..., nn.Module]
BUILTIN = ("shoplens.models.seed_cnn", "shoplens.models.shopnet")  # modules that register on import


class _Registry:
    """Name → constructor; a duplicate name is an error."""

    def __init__(self) -> None:
        self._fns: dict[str, ModelFn] = {}

    def register(self, fn: ModelFn, name: str | None = None) -> ModelFn:
        _register_builtin()  # so that a new model never silently takes a built-in name
        key = name or fn.__name__
        if key in self._fns:
            raise ValueError(f"model {key!r} is already registered")
        self._fns[key] = fn
        return fn

    def get(self, name: str) -> ModelFn:
        _register_builtin()
        if name not in self._fns:
            raise KeyError(f"unknown model {name!r}; registered: {', '.join(sorted(self._fns))}")
        return self._fns[name]

    def names(self) -> list[str]:
        _register_builtin()
        return sorted(self._fns)


REGISTRY = _Registry()


def _register_builtin() -> None:
    """Import the built-in architectures (each registers itself once, on import)."""
    for module in BUILTIN:
        importlib.import_module(module)


def register_model(
    fn: ModelFn | None = None, *, name: str | None = None
) -> ModelFn | Callable[[ModelFn], ModelFn]:
    """Decorator: add a model constructor to the registry under its function name (or `name`)."""
    if fn is None:
        return lambda f: REGISTRY.register(f, name)
    return REGISTRY.register(fn, name)


def list_models() -> list[str]:
    """Names of all registered architectures."""
    return REGISTRY.names()


def create_model(
    name: str, num_classes: int = 10, in_chans: int = 1, img_size: int | tuple[int, int] = 28, **kwargs
) -> nn.Module:
    """Build a registered architecture by name."""
    if isinstance(img_size, int):
        img_size = (img_size, img_size)
    return REGISTRY.get(name)(num_classes=num_classes, in_chans=in_chans, img_size=tuple(img_size), **kwargs)
