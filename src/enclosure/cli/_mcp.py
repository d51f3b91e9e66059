"""``enclosure mcp``: the MCP gateway, or the snippet a client needs to use it."""

from __future__ import annotations

from pathlib import Path

import anyio
import click

from enclosure._enclosure import Enclosure
from enclosure.cli._common import home_of
from enclosure.integrations import require
from enclosure.manifest import load_manifest, parse_duration

__all__ = ["mcp"]

EXIT_KILLED = 137


def _seconds(value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:  # PydanticCustomError is a ValueError
        raise click.BadParameter(str(exc)) from None


@click.command("mcp")
@click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The permission manifest: its upstreams and the tools it offers.",
)
@click.option(
    "--http",
    "http",
    metavar="HOST:PORT",
    default=None,
    help="Serve streamable HTTP at http://HOST:PORT/mcp (loopback only) "
    "instead of stdio.",
)
@click.option(
    "--idle-timeout",
    default=None,
    metavar="DURATION",
    help="With --http: stop after this long without a request (e.g. 10m).",
)
@click.option(
    "--approval-wait",
    default="0s",
    show_default=True,
    metavar="DURATION",
    help="How long a call parked for approval waits for a human before it is "
    "answered as pending (the client may retry it).",
)
@click.option("--task", default="mcp session", show_default=True)
@click.option(
    "--print-config",
    "print_config",
    type=click.Choice(["all", "claude", "cursor", "vscode", "openai-agents"]),
    is_flag=False,
    flag_value="all",
    default=None,
    help="Print the snippet a client needs to use this gateway, and exit.",
)
@click.pass_context
def mcp(  # noqa: PLR0917 -- one parameter per option, as click passes them
    ctx: click.Context,
    manifest_path: Path,
    http: str | None,
    idle_timeout: str | None,
    approval_wait: str,
    task: str,
    print_config: str | None,
) -> int:
    """Serve the manifest's MCP upstreams through the enclosure.

    Clients see only the tools the manifest declares; every call is decided,
    logged and answered as the policy says (refused, simulated, parked for
    approval, or run by the upstream inside the sandbox). A call that kills the
    run ends the session (exit status 137).
    """
    home = home_of(ctx)
    if print_config is not None:
        manifest = load_manifest(manifest_path)
        from enclosure.gateway import CLIENTS, client_config  # noqa: PLC0415

        url = None
        if http is not None:
            url = f"http://{http}/mcp"
        clients = CLIENTS if print_config == "all" else (print_config,)
        for client in clients:
            click.echo(
                client_config(
                    manifest_path,
                    home,
                    name=f"enclosure-{manifest.agent.name}",
                    client=client,  # type: ignore[arg-type]  # a Choice above
                    url=url,
                )
            )
            click.echo()
        return 0
    require("mcp")
    from enclosure.gateway import (  # noqa: PLC0415 -- the mcp extra
        Gateway,
        loopback_address,
        serve_http,
        serve_stdio,
    )

    host, port = _host_port(http) if http is not None else ("", 0)
    if http is not None:
        loopback_address(host)
    wait = _seconds(approval_wait) if approval_wait not in ("0", "0s") else 0.0
    idle = _seconds(idle_timeout) if idle_timeout else None
    enc = Enclosure.load(manifest_path, home=home)
    gateway = Gateway(enc, task=task, approval_wait=wait)

    async def main() -> None:
        async with gateway.running():
            click.echo(f"enclosure: run {gateway.run.id}", err=True)
            if http is None:
                await serve_stdio(gateway)
            else:
                await serve_http(
                    gateway,
                    host,
                    port,
                    idle_timeout=idle,
                    ready=lambda url: click.echo(f"enclosure: serving {url}", err=True),
                )

    try:
        anyio.run(main)
    finally:
        enc.close()
    return EXIT_KILLED if gateway.ended.is_set() else 0


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # noqa: PLR2004
        msg = f"--http takes HOST:PORT, such as 127.0.0.1:8765, not {value!r}"
        raise click.BadParameter(msg)
    return host.strip("[]") or "127.0.0.1", int(port)
