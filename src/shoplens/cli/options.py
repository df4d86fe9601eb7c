"""Option groups built from `Settings`: every default, help text and environment variable has one source.

A command takes a group's options by asking for `settings: Settings` under `@with_settings(GROUP, …)`; an
option left out falls back to SHOPLENS_<FIELD> in the environment, then to the default in config.py.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import typer
from pydantic import AliasChoices, ValidationError

from shoplens.config import Settings
from shoplens.errors import ShopLensError

F = TypeVar("F", bound=Callable[..., Any])
Group = Mapping[str, tuple[str, ...]]  # Settings field -> its flags (empty: --field-name)

MODEL: Group = {"models_dir": (), "model_name": ("--name",)}
CATALOG: Group = {**MODEL, "catalog_dir": (), "database_url": (), "vector_backend": (), "milvus_uri": ()}
KEYS: Group = {"api_keys_file": ("--keys-file",)}
DEVICE: Group = {"device": ()}  # commands that train or run a model
RUNTIME: Group = {"runtime": ()}  # commands that run a trained bundle
SERVE: Group = {
    "host": (),
    "port": (),
    **MODEL,
    "open_mode": ("--open",),
    "open_write": ("--open-write",),
    "batching": ("--batching/--no-batching",),
    **RUNTIME,
    "workers": (),
    **DEVICE,
    "backbone": (),
    "taxonomy_file": (),
    **KEYS,
}


class SettingsError(ShopLensError):
    """A setting given on the command line or in the environment is invalid."""

    exit_code = 2


def env_names(field: str) -> list[str]:
    """The environment variables a setting is read from."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"{Settings.model_config.get('env_prefix', '')}{field}".upper()]


def flags_of(field: str, group: Group) -> tuple[str, ...]:
    """A setting's command-line flags in a group."""
    return group[field] or ("--" + field.replace("_", "-"),)


def option_type(field: str, group: Group) -> Any:
    """`Annotated[<the setting's type> | None, typer.Option(...)]`: unset (None) means the setting's own value."""
    info = Settings.model_fields[field]
    kind = info.annotation
    if get_origin(kind) in (Union, types.UnionType):  # `str | None`: the option is optional anyway
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
    default = False if info.default is None else str(info.default)
    text = f"{info.description or field.replace('_', ' ').capitalize()} (env {' or '.join(env_names(field))})"
    return Annotated[kind | None, typer.Option(*flags_of(field, group), help=text, show_default=default)]


def load_settings(given: Mapping[str, Any], group: Group | None = None) -> Settings:
    """Settings from the given values (None: not given), the environment and the defaults; SettingsError if invalid."""
    try:
        return Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        raise SettingsError("; ".join(_describe(x, given, group or {}) for x in e.errors())) from None


def _describe(error: Any, given: Mapping[str, Any], group: Group) -> str:
    """One validation error, named by the flag or environment variable the bad value came from."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"] or error["loc"][0] not in Settings.model_fields:
        return message
    field = str(error["loc"][0])
    source = (
        flags_of(field, group)[0].split("/")[0] if given.get(field) is not None and field in group else None
    )
    return f"{source or ' / '.join(env_names(field))}: {message}"


def with_settings(*groups: Group) -> Callable[[F], F]:
    """Give a command the options of these groups; it receives their values, checked, as `settings: Settings`.

    Called from Python, the command takes `settings=` itself (then its group's options are ignored).
    """
    group: dict[str, tuple[str, ...]] = {}
    for g in groups:
        group.update(g)

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn, eval_str=True)
        own = [p for name, p in signature.parameters.items() if name != "settings"]
        added = [
            inspect.Parameter(
                field, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=option_type(field, group)
            )
            for field in group
        ]

        @functools.wraps(fn)
        def command(*args: Any, settings: Settings | None = None, **kwargs: Any) -> Any:
            given = {field: kwargs.pop(field, None) for field in group}  # Python callers may pass settings
            return fn(*args, **kwargs, settings=load_settings(given, group) if settings is None else settings)

        params = [*own, *added]
        command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command  # type: ignore[return-value]

    return decorate
