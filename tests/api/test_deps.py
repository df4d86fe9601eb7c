"""Typed dependencies: every shopper id a path or query names passes the pseudonymising dependency."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi.routing import APIRoute

from shoplens.api import routes
from shoplens.api.catalog_deps import path_shopper, query_shopper


def test_every_shopper_id_in_a_path_or_query_goes_through_the_shopper_dependency() -> None:
    through = []
    for info in pkgutil.iter_modules(routes.__path__, routes.__name__ + "."):
        for route in importlib.import_module(info.name).router.routes:
            assert isinstance(route, APIRoute)
            own = {p.name for p in route.dependant.path_params + route.dependant.query_params}
            assert "user_id" not in own, (
                f"{route.path} takes user_id itself: use ShopperDep or OptionalShopperDep"
            )
            for dep in route.dependant.dependencies:
                if "user_id" in {p.name for p in dep.path_params + dep.query_params}:
                    assert dep.call in (path_shopper, query_shopper), route.path
                    through.append((sorted(route.methods), route.path_format))
    assert sorted(through) == [
        (["DELETE"], "/v1/users/{user_id}"),
        (["GET"], "/v1/ads/select"),
        (["GET"], "/v1/users/{user_id}/profile"),
        (["GET"], "/v1/users/{user_id}/recommendations"),
    ]
