"""``aoi probe``: serve the read-only investigation tools over MCP (stdio by default, or streamable HTTP).

stdout carries nothing but MCP messages on stdio; everything the probe says goes to stderr. A kubeconfig that
cannot be used, a cluster that cannot be reached or a missing token is one clear line on stderr and exit code 2.
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from pathlib import Path

import typer

EXIT_USAGE = 2

app = typer.Typer(pretty_exceptions_show_locals=False)  # `aoi probe` is this one command (aoi/cli.py mounts it)


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"aoi probe: error: {' '.join(message.split())}", err=True)  # one line, always
    return typer.Exit(EXIT_USAGE)


def _say(message: str) -> None:
    typer.echo(f"aoi probe: {message}", err=True)


@app.command()
def probe(
    kubeconfig: Path | None = typer.Option(None, help="Kubeconfig to read (default: $KUBECONFIG, then "
                                           "~/.kube/config). The simulator's (.aoi/sim/kubeconfig) also gives the "
                                           "telemetry URLs."),
    context: str | None = typer.Option(None, help="Kubeconfig context (default: its current-context)."),
    prometheus_url: str | None = typer.Option(None, help="Prometheus base URL (default: from the kubeconfig's "
                                              "aoi.dev/telemetry extension, if any)."),
    jaeger_url: str | None = typer.Option(None, help="Jaeger query base URL (default: from the kubeconfig)."),
    transport: Transport = typer.Option(Transport.stdio, help="stdio (for a client that starts the probe) or "
                                        "http (streamable HTTP at /mcp, bearer token required)."),
    host: str = typer.Option("127.0.0.1", help="HTTP: address to bind. Keep the loopback default unless you "
                             "mean to expose the probe."),
    port: int = typer.Option(8765, min=0, max=65535, help="HTTP: port (0: any free one; the URL is printed)."),
    auth_token_file: Path | None = typer.Option(None, help="HTTP: file holding the bearer token clients must "
                                                "send (required with --transport http)."),
    budget: int = typer.Option(2000, min=200, max=100_000, help="Default output budget per tool call, in tokens "
                               "(a call can ask for another)."),
    transcripts: Path | None = typer.Option(None, help="SQLite file where every tool call is logged (redacted)."),
    log_level: str = typer.Option("warning", help="stderr log level: debug, info, warning, error."),
) -> None:
    """Serve the read-only investigation tools over MCP (stdio, or HTTP with a bearer token).

    stdio by default; --transport http serves streamable HTTP at /mcp and requires --auth-token-file.
    Redaction is always on."""
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, log_level.upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_level.lower() != "debug":
        logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry chatter; the failure itself is reported
    from servers.probe.http import TokenError, read_token, token_file_warning

    token = None
    if transport is Transport.http:
        try:
            token = read_token(auth_token_file)
        except TokenError as e:
            raise _fail(str(e)) from None
        if warning := token_file_warning(auth_token_file):  # type: ignore[arg-type]
            _say(warning)
    elif auth_token_file is not None:
        _say("note: --auth-token-file applies to --transport http only; ignored on stdio")

    server = _build(kubeconfig, context, prometheus_url, jaeger_url, budget, transcripts)
    try:
        if transport is Transport.stdio:
            server.run("stdio")
        else:
            _serve_http(server, token or "", host, port, auth_token_file)
    except KeyboardInterrupt:
        pass  # Ctrl-C: a clean exit, no traceback
    except BrokenPipeError:
        pass  # the client went away on stdio


def _build(kubeconfig: Path | None, context: str | None, prometheus_url: str | None, jaeger_url: str | None,
           budget: int, transcripts: Path | None):
    """Connect and check the cluster answers before serving; any failure is one line and exit code 2."""
    from kubernetes.client import ApiException

    from cluster.connect import ConnectError, kubeconfig_path
    from servers.probe.context import ProbeContext
    from servers.probe.kube import ProbeError, _status_message
    from servers.probe.server import build_server
    from servers.probe.settings import ProbeSettings

    settings = ProbeSettings(kubeconfig=str(kubeconfig) if kubeconfig else None, context=context,
                             prometheus_url=prometheus_url, jaeger_url=jaeger_url, budget_tokens=budget,
                             redact=True, transcripts=transcripts)
    try:
        ctx = ProbeContext.build(settings)
        ctx.kube.kinds()  # discovery: proves the server is reachable and the credentials are accepted
        return build_server(settings, ctx)
    except ApiException as e:
        raise _fail(f"{_status_message(e)} (kubeconfig {kubeconfig_path(settings.kubeconfig)})") from None
    except (ConnectError, ProbeError) as e:
        raise _fail(str(e)) from None
    except OSError as e:  # transcripts file, TLS files
        raise _fail(f"{type(e).__name__}: {e}") from None
    except Exception as e:  # anything else is still one line, not a traceback
        raise _fail(f"cannot start: {type(e).__name__}: {e}") from None


def _serve_http(server, token: str, host: str, port: int, token_file: Path | None) -> None:
    from servers.probe.http import bind, serve, url_of

    try:
        sock = bind(host, port)
    except OSError as e:
        raise _fail(str(e)) from None
    url = url_of(sock)
    _say(f"serving MCP (streamable HTTP) on {url}; clients send 'Authorization: Bearer <token from {token_file}>'")
    if host not in ("127.0.0.1", "localhost", "::1"):
        _say(f"warning: bound to {host}, reachable from other machines; prefer TLS in front of it")
    try:
        serve(server, token, sock, host)
    finally:
        sock.close()
