"""Admin commands for the registry: ``providers``, ``models`` and ``creds``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from server.admin.client import AdminClient, AdminError, ServerError
from server.admin.command import (
    connection_options,
    echo_or_json,
    json_option,
    read_secret,
    run,
    seg,
)
from server.admin.output import print_json, print_table

# -- providers --------------------------------------------------------------------


@click.group()
@connection_options
def providers() -> None:
    """List, add, remove, enable and disable providers."""


@providers.command("ls")
@connection_options
@json_option
def providers_ls(as_json: bool) -> None:
    """List providers (secrets show as a masked hint only)."""

    async def command(api: AdminClient) -> None:
        items = await api.get("/api/providers")
        if as_json:
            return print_json(items)
        rows = [
            (p["id"], p["name"], p["sdkId"], p["enabled"], p.get("apiKeyHint"), p.get("baseUrl"))
            for p in items
        ]
        print_table(("ID", "NAME", "SDK", "ENABLED", "API KEY", "BASE URL"), rows)

    run(command)


@providers.command("add")
@click.option("--name", required=True, help="Display name (unique).")
@click.option("--sdk-id", required=True, help="SDK id (unique), e.g. openai.")
@click.option("--id", "provider_id", help="Slug (default: derived from the name).")
@click.option("--base-url", help="API base URL.")
@click.option(
    "--api-key",
    metavar="KEY|-",
    help="API key; '-' reads it from stdin (keeps it out of shell history).",
)
@click.option("--image-url", help="Logo URL.")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@connection_options
@json_option
def providers_add(
    name: str,
    sdk_id: str,
    provider_id: str | None,
    base_url: str | None,
    api_key: str | None,
    image_url: str | None,
    disabled: bool,
    as_json: bool,
) -> None:
    """Add a provider."""
    body: dict[str, Any] = {"name": name, "sdkId": sdk_id, "enabled": not disabled}
    optional = {
        "id": provider_id,
        "baseUrl": base_url,
        "imageUrl": image_url,
        "apiKey": read_secret(api_key, "API key"),
    }
    body |= {k: v for k, v in optional.items() if v is not None}

    async def command(api: AdminClient) -> None:
        p = await api.post("/api/providers", body)
        key = f", api key {p['apiKeyHint']}" if p.get("hasApiKey") else ""
        echo_or_json(as_json, p, f"created provider {p['id']} ({p['name']}, sdk {p['sdkId']}{key})")

    run(command)


@providers.command("rm")
@click.argument("provider_id", metavar="ID")
@click.option("--cascade", is_flag=True, help="Also delete the provider's models.")
@connection_options
@json_option
def providers_rm(provider_id: str, cascade: bool, as_json: bool) -> None:
    """Remove a provider (one with models needs --cascade)."""

    async def command(api: AdminClient) -> None:
        params = {"cascade": "true"} if cascade else None
        try:
            result = await api.delete(f"/api/providers/{seg(provider_id)}", params=params)
        except ServerError as exc:
            if exc.status == 409 and not cascade:
                raise AdminError(
                    f"{exc.reason} (HTTP 409): `modeldeck providers rm {provider_id} --cascade` "
                    "deletes them too"
                ) from exc
            raise
        gone = result.get("deletedModels") or []
        also = f" and its {len(gone)} model(s): {', '.join(map(str, gone))}" if gone else ""
        echo_or_json(as_json, result, f"deleted provider {provider_id}{also}")

    run(command)


def _provider_switch(action: str) -> Callable[..., None]:
    @connection_options
    @json_option
    @click.argument("provider_id", metavar="ID")
    def switch(provider_id: str, as_json: bool) -> None:
        async def command(api: AdminClient) -> None:
            p = await api.post(f"/api/providers/{seg(provider_id)}/{action}")
            echo_or_json(as_json, p, f"{action}d provider {p['id']}")

        run(command)

    switch.__doc__ = f"{action.capitalize()} a provider (and the models it serves)."
    return switch


providers.command("enable")(_provider_switch("enable"))
providers.command("disable")(_provider_switch("disable"))


# -- models -----------------------------------------------------------------------


@click.group()
@connection_options
def models() -> None:
    """List, add and remove models; set the default; start and stop them."""


@models.command("ls")
@click.option("--type", "model_type", type=click.Choice(["chat", "image", "speech", "embedding"]))
@click.option("--provider", help="Only this provider's models.")
@connection_options
@json_option
def models_ls(model_type: str | None, provider: str | None, as_json: bool) -> None:
    """List models."""

    async def command(api: AdminClient) -> None:
        params = {k: v for k, v in {"type": model_type, "providerId": provider}.items() if v}
        items = await api.get("/api/models", params=params)
        if as_json:
            return print_json(items)
        rows = [
            (
                m["id"],
                m["name"],
                m["type"],
                m.get("providerId"),
                m["status"],
                m["enabled"],
                m["isDefault"],
            )
            for m in items
        ]
        print_table(("ID", "NAME", "TYPE", "PROVIDER", "STATUS", "ENABLED", "DEFAULT"), rows)

    run(command)


@models.command("add")
@click.option("--name", required=True, help="Display name.")
@click.option("--id", "model_id", help="Slug (default: derived from the name).")
@click.option(
    "--type",
    "model_type",
    default="chat",
    show_default=True,
    type=click.Choice(["chat", "image", "speech", "embedding"]),
)
@click.option("--provider", help="Provider id.")
@click.option("--sdk-id", help="SDK id, e.g. openai:gpt-4o-mini.")
@click.option("--description", help="What the model is for.")
@click.option("--context-length", type=click.IntRange(min=1), help="Context window, tokens.")
@click.option("--default", "is_default", is_flag=True, help="Make it the default of its type.")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@connection_options
@json_option
def models_add(
    name: str,
    model_id: str | None,
    model_type: str,
    provider: str | None,
    sdk_id: str | None,
    description: str | None,
    context_length: int | None,
    is_default: bool,
    disabled: bool,
    as_json: bool,
) -> None:
    """Add a model."""
    body: dict[str, Any] = {
        "name": name,
        "type": model_type,
        "enabled": not disabled,
        "isDefault": is_default,
    }
    optional = {
        "id": model_id,
        "providerId": provider,
        "sdkId": sdk_id,
        "description": description,
        "contextLength": context_length,
    }
    body |= {k: v for k, v in optional.items() if v is not None}

    async def command(api: AdminClient) -> None:
        m = await api.post("/api/models", body)
        by = f", provider {m['providerId']}" if m.get("providerId") else ""
        echo_or_json(as_json, m, f"created model {m['id']} ({m['name']}, {m['type']}{by})")

    run(command)


def _model_action(path: str, describe: Callable[[dict[str, Any]], str], doc: str) -> Any:
    @connection_options
    @json_option
    @click.argument("model_id", metavar="ID")
    def action(model_id: str, as_json: bool) -> None:
        async def command(api: AdminClient) -> None:
            m = await api.post(f"/api/models/{seg(model_id)}/{path}")
            echo_or_json(as_json, m, describe(m))

        run(command)

    action.__doc__ = doc
    return action


models.command("default")(
    _model_action(
        "set-default",
        lambda m: f"{m['id']} is now the default {m['type']} model",
        "Make a model the default of its type.",
    )
)
models.command("start")(
    _model_action(
        "start",
        lambda m: f"model {m['id']}: {m['status']}",
        "Start a model (status running).",
    )
)
models.command("stop")(
    _model_action(
        "stop",
        lambda m: f"model {m['id']}: {m['status']}",
        "Stop a model (status stopped).",
    )
)


@models.command("rm")
@click.argument("model_id", metavar="ID")
@connection_options
@json_option
def models_rm(model_id: str, as_json: bool) -> None:
    """Remove a model and its config sections."""

    async def command(api: AdminClient) -> None:
        result = await api.delete(f"/api/models/{seg(model_id)}")
        echo_or_json(as_json, result, f"deleted model {model_id}")

    run(command)


# -- credentials ------------------------------------------------------------------


@click.group()
@connection_options
def creds() -> None:
    """Set or remove a provider's credentials (write-only: never shown back)."""


@creds.command("set")
@click.argument("provider")
@click.argument("secret", metavar="[TOKEN]", required=False, default="-")
@click.option("--cookies", metavar="COOKIES|-", help="Cookies too; '-' reads them from stdin.")
@click.option("--expires-at", type=click.IntRange(min=0), help="Expiry, unix seconds.")
@connection_options
@json_option
def creds_set(
    provider: str, secret: str, cookies: str | None, expires_at: int | None, as_json: bool
) -> None:
    """Set PROVIDER's credential token; without TOKEN (or with '-') it is read from stdin."""
    if secret == "-" and cookies == "-":
        raise click.BadParameter("only one of TOKEN and --cookies can come from stdin")
    body: dict[str, Any] = {"token": read_secret(secret, "Token")}
    if cookies is not None:
        body["cookies"] = read_secret(cookies, "Cookies")
    if expires_at is not None:
        body["expiresAt"] = expires_at

    async def command(api: AdminClient) -> None:
        c = await api.post(f"/api/credentials/{seg(provider)}", body)
        state = "valid" if c.get("isValid") else "expired" if c.get("isExpired") else "invalid"
        echo_or_json(as_json, c, f"credentials of {c['provider']} set ({state})")

    run(command)


@creds.command("rm")
@click.argument("provider")
@connection_options
@json_option
def creds_rm(provider: str, as_json: bool) -> None:
    """Remove PROVIDER's credentials."""

    async def command(api: AdminClient) -> None:
        c = await api.delete(f"/api/credentials/{seg(provider)}")
        echo_or_json(as_json, c, f"deleted credentials of {c['provider']}")

    run(command)
