"""API keys: hashed storage, 401 without a valid key, 403 for a weaker role, open mode on loopback only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from shoplens.api import create_app
from shoplens.api.keys import KeyStore
from shoplens.cli import app as cli
from shoplens.config import Settings
from tests.support.images import encode, product_photo
from tests.support.service import classify, serving, settings_for

pytestmark = pytest.mark.anyio


async def test_missing_or_wrong_key_is_401_and_bearer_works(client, api_keys) -> None:
    png = encode(product_photo())
    client.headers.pop("X-API-Key")
    r = await classify(client, png)
    assert r.status_code == 401 and "API key" in r.json()["detail"] and r.headers["www-authenticate"]
    forged = api_keys["admin"][:-4] + "AAAA"
    for headers in ({"X-API-Key": forged}, {"X-API-Key": "nonsense"}, {"Authorization": "Bearer nonsense"}):
        client.headers.update(headers)
        assert (await classify(client, png)).status_code == 401
        for key in headers:
            client.headers.pop(key)
    client.headers["Authorization"] = f"Bearer {api_keys['merchant']}"
    assert (await classify(client, png)).status_code == 200


async def test_roles_reader_can_classify_and_list_but_only_admin_activates(client, api_keys) -> None:
    for role in ("reader", "merchant"):
        headers = {"X-API-Key": api_keys[role]}
        assert (await client.get("/v1/models", headers=headers)).status_code == 200
        r = await client.post("/v1/models/v1/activate", headers=headers)
        assert r.status_code == 403 and "admin" in r.json()["detail"]
        assert (await client.post("/v1/models/rollback", headers=headers)).status_code == 403
    assert (
        await client.post("/v1/models/v1/activate", headers={"X-API-Key": api_keys["admin"]})
    ).status_code == 200


async def test_keys_are_stored_hashed_and_salted(keys_file: Path, api_keys) -> None:
    text = keys_file.read_text()
    assert all(key not in text and key.split("_", 2)[2] not in text for key in api_keys.values())
    records = KeyStore(keys_file).records()
    assert len({r.salt for r in records}) == len(records) == 3
    assert keys_file.stat().st_mode & 0o077 == 0  # owner-only


async def test_open_mode_allows_anonymous_use(models_root: Path, keys_file: Path) -> None:
    app = create_app(settings_for(models_root, keys_file, open_mode=True, open_write=True))
    async with serving(app, base_url="http://127.0.0.1:8000") as c:
        assert (await classify(c, encode(product_photo()))).status_code == 200
        assert (await c.post("/v1/models/v1/activate")).status_code == 200
        assert (
            await c.get("/v1/models", headers={"X-API-Key": "wrong"})
        ).status_code == 401  # a bad key is still bad


def test_open_mode_is_refused_off_loopback(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.5"):
        assert Settings(open_mode=True, host=host).open_mode
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.com"):
        with pytest.raises(ValidationError, match="loopback"):
            Settings(open_mode=True, host=host)
    result = CliRunner().invoke(cli, ["serve", "--open", "--host", "0.0.0.0", "--models-dir", str(tmp_path)])
    assert result.exit_code == 2 and "loopback" in result.output


def test_cli_keys_create_prints_the_key_once(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    result = CliRunner().invoke(cli, ["keys", "create", "--role", "admin", "--keys-file", str(keys_file)])
    assert result.exit_code == 0
    key = result.stdout.strip().splitlines()[-1]
    assert KeyStore(keys_file).verify(key).role == "admin"
    assert key not in keys_file.read_text()
    bad = CliRunner().invoke(cli, ["keys", "create", "--role", "root", "--keys-file", str(keys_file)])
    assert bad.exit_code == 2 and "unknown role" in bad.output


def test_cli_keys_create_with_the_shopper_data_scope(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    args = ["keys", "create", "--scope", "shopper-data", "--label", "analyst", "--keys-file", str(keys_file)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    caller = KeyStore(keys_file).verify(result.stdout.strip().splitlines()[-1])
    assert caller is not None and caller.role == "reader" and caller.holds("shopper-data")
    listed = CliRunner().invoke(cli, ["keys", "list", "--keys-file", str(keys_file)])
    assert "shopper-data" in listed.stdout
    bad = CliRunner().invoke(cli, ["keys", "create", "--scope", "everything", "--keys-file", str(keys_file)])
    assert bad.exit_code == 2 and "unknown scope" in bad.output


def test_a_keys_file_from_before_scopes_still_reads(keys_file: Path, api_keys) -> None:
    data = json.loads(keys_file.read_text())
    for record in data["keys"]:
        record.pop("scopes")
    keys_file.write_text(json.dumps(data))
    caller = KeyStore(keys_file).verify(api_keys["reader"])
    assert caller is not None and caller.scopes == frozenset() and not caller.holds("shopper-data")


async def test_a_key_revoked_through_the_cli_gets_401_at_once(client, keys_file: Path, api_keys) -> None:
    admin = {"X-API-Key": api_keys["admin"]}
    key_id = api_keys["admin"].split("_", 2)[1]
    assert (await client.get("/v1/models", headers=admin)).status_code == 200  # the server has read the keys
    listed = CliRunner().invoke(cli, ["keys", "list", "--keys-file", str(keys_file)])
    assert listed.exit_code == 0 and key_id in listed.stdout and api_keys["admin"] not in listed.stdout
    revoked = CliRunner().invoke(cli, ["keys", "revoke", key_id, "--keys-file", str(keys_file)])
    assert revoked.exit_code == 0, revoked.output
    assert (await client.get("/v1/models", headers=admin)).status_code == 401
    assert (await client.get("/v1/models")).status_code == 200  # the reader key still works
    listed = CliRunner().invoke(cli, ["keys", "list", "--keys-file", str(keys_file)])
    assert key_id not in listed.stdout and api_keys["reader"].split("_", 2)[1] in listed.stdout
    again = CliRunner().invoke(cli, ["keys", "revoke", key_id, "--keys-file", str(keys_file)])
    assert again.exit_code == 2 and "no key with id" in again.output


async def test_a_key_is_verified_once_per_request(
    models_root: Path, keys_file: Path, api_keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings_for(models_root, keys_file))
    keys: KeyStore = app.state.service.keys
    calls = []
    verify = keys.verify
    monkeypatch.setattr(keys, "verify", lambda key: calls.append(key) or verify(key))
    async with serving(app, headers={"X-API-Key": api_keys["reader"]}) as c:
        assert (await classify(c, encode(product_photo()))).status_code == 200
        assert (await c.get("/v1/models")).status_code == 200
    assert len(calls) == 2  # the per-caller limit's check serves the route's too
