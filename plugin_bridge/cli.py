"""`decompose-bridge`: run the local bridge server that editor plugins and the web page call."""

from __future__ import annotations

import sys
import urllib.parse
from pathlib import Path

import click

from plugin_bridge.config import DEFAULT_HOST, DEFAULT_PORT, LOOPBACK_HOSTS, BridgeConfig

EXAMPLES = """
\b
Examples:
  decompose-bridge                         # http://127.0.0.1:47863, shipped model; prints a
                                           # link to the web page that carries the token
  decompose-bridge --print-token           # show the token to paste into a plugin
  decompose-bridge --model runs/small/best --port 47864
  decompose-bridge --allow-origin https://www.photopea.com
"""


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on. Non-loopback addresses need --allow-remote.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host (e.g. 0.0.0.0). Anyone on the network who has the token can use the bridge; turns the Host check off.",
)
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="TCP port.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Bearer token file (created with mode 0600 if missing). Default: the user config dir.",
)
@click.option(
    "--print-token", is_flag=True, help="Print the token (creating it if needed) and exit."
)
@click.option(
    "--model",
    default=None,
    help="Weights: a folder from decompose-train, a .onnx file or Apple's depth_pro.pt; "
    "random:PRESET for an untrained network (tests only). Default: the shipped model.",
)
@click.option(
    "--device",
    default=None,
    help="Torch device (cpu, cuda, mps). Default: automatic (the CPU without torch).",
)
@click.option(
    "--max-body-mb",
    default=256,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Largest upload in MiB (413 above).",
)
@click.option(
    "--max-pixels",
    default=100_000_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest image in pixels, width x height (413 above).",
)
@click.option(
    "--max-pending-mb",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Upload bytes (MiB) waiting at once, all clients together (503 above). "
    "Default: 4 x --max-body-mb, at least 1024.",
)
@click.option(
    "--result-ttl",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds finished jobs and their files are kept.",
)
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    metavar="URL",
    help="Allow CORS from this exact origin (repeatable), e.g. https://www.photopea.com. No wildcards.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request; show tracebacks.")
def main(
    host: str,
    allow_remote: bool,
    port: int,
    token_file: Path | None,
    print_token: bool,
    model: str | None,
    device: str | None,
    max_body_mb: float,
    max_pixels: int,
    max_pending_mb: float | None,
    result_ttl: float,
    allow_origins: tuple[str, ...],
    verbose: bool,
) -> None:
    """Run the local HTTP bridge (API v1) that editor plugins and the web page use.

    Listens on 127.0.0.1 only unless --allow-remote is given. Every API call except
    /v1/health needs the token (Authorization: Bearer). See plugin_bridge/PROTOCOL.md.
    """
    from plugin_bridge.auth import TokenFileError, load_or_create_token

    options = {} if token_file is None else {"token_file": token_file}
    try:
        config = BridgeConfig(
            host=host,
            port=port,
            model=model,
            device=device,
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            max_pixels=max_pixels,
            max_pending_bytes=None if max_pending_mb is None else int(max_pending_mb * 1024 * 1024),
            result_ttl_s=result_ttl,
            allowed_origins=tuple(allow_origins),
            allow_remote=allow_remote,
            **options,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        token = load_or_create_token(config.token_file)
    except TokenFileError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if print_token:
        click.echo(token)
        return
    if host not in LOOPBACK_HOSTS:
        click.echo(
            f"WARNING: listening on {host}: anyone who can reach this machine and has the token "
            "can use the bridge; there is no TLS. Prefer 127.0.0.1 or your own reverse proxy.",
            err=True,
        )
    try:
        code = _run(config, token, verbose)
    except Exception as exc:  # unexpected: one line unless -v
        if verbose:
            raise
        click.echo(f"Error: {type(exc).__name__}: {exc}".splitlines()[0], err=True)
        code = 1
    sys.exit(code)


def page_url(config: BridgeConfig, token: str) -> str:
    """The web page's address with the token in its fragment (`#token=...`), as Jupyter prints
    its URL: browsers never send a fragment to the server, so the token reaches no log, and the
    page removes it from the address bar once it has stored it (for this bridge's origin only)."""
    host = config.host
    if host in ("0.0.0.0", "::"):  # every interface: this machine reaches it on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.port}/#token={urllib.parse.quote(token, safe='')}"


def _run(config: BridgeConfig, token: str, verbose: bool) -> int:
    """Load the model, bind the port and serve until Ctrl-C; returns the exit code."""
    from decomposer.errors import DecomposerError
    from plugin_bridge.runner import DecomposeRunner
    from plugin_bridge.server import bind_socket, serve

    runner = DecomposeRunner(config.model, config.device)
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as exc:
        click.echo(
            f"Error: cannot listen on {config.host}:{config.port} ({exc.strerror or exc}); "
            "is another bridge running? Use --port to pick another port.",
            err=True,
        )
        return 2
    try:
        click.echo(f"Starting (model {runner.model_name}) ...", err=True)
        try:
            runner.load()
        except DecomposerError as exc:
            click.echo(f"Error: {exc}", err=True)
            return 2
        host = f"[{config.host}]" if ":" in config.host else config.host
        click.echo(
            f"decompose-bridge listening on http://{host}:{config.port} "
            f"(model {runner.model_name}, device {runner.device_name}); "
            f"token in {config.token_file}; Ctrl-C to stop",
            err=True,
        )
        click.echo(
            f"Open the web page (the link carries the token: keep it to yourself): "
            f"{page_url(config, token)}",
            err=True,
        )
        serve(
            config,
            token=token,
            runner=runner,
            sock=sock,
            log_level="info" if verbose else "warning",
        )
    except KeyboardInterrupt:
        return 130
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    main()
