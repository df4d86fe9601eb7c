"""The HTTP API: an app factory, routes per resource, and the server that runs it."""

from shoplens.api.app import create_app

__all__ = ["create_app"]
