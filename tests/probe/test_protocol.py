"""The probe over the real MCP protocol, against the simulator with an AIOpsLab problem brought up:
in memory (``Client(server)``), as a stdio child process (``aoi probe``), over streamable HTTP with and without the
bearer token, and driven by the MCP Inspector CLI from npm. Plus the CLI's failure modes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from servers.probe.http import BearerAuth, read_token
from servers.probe.tools import TOOLS
from tests.probe.argspace import argument_combinations, realistic_values
from tests.probe.conftest import REPO, ProbeSim, run_async, text_of

TOOL_NAMES = {t.name for t in TOOLS}
START_GUARD_S = 120  # a hang guard for child processes, not a performance assertion


def _probe_argv(kubeconfig: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "aoi", "probe", "--kubeconfig", str(kubeconfig), *extra]


def _check_tool_list(tools) -> None:
    names = {t.name for t in tools}
    assert names == TOOL_NAMES, f"served {sorted(names)}, TOOLS has {sorted(TOOL_NAMES)}"
    for t in tools:
        assert t.annotations is not None and t.annotations.read_only_hint is True, t.name
        assert t.annotations.destructive_hint is False, t.name
        assert t.description and len(t.description) > 40, f"{t.name} needs a description written for the model"
        assert t.input_schema.get("type") == "object", t.name
        for prop, schema in t.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{t.name}.{prop} has no description"


async def _exercise(c: Client, sim: ProbeSim) -> None:
    """What every transport must do: list tools, call them, and answer bad arguments with clear errors."""
    _check_tool_list((await c.list_tools()).tools)
    ns = sim.namespace
    r = await c.call_tool("list_resources", {"kind": "pods", "namespace": ns})
    assert not r.is_error, text_of(r)
    data = r.structured_content["result"]
    assert data["kind"] == "Pod" and data["count"] >= 20, text_of(r)[:2000]
    names = {i["name"] for i in data["items"]}
    assert "leaky" in names and any(n.startswith("user-service-") for n in names), text_of(r)[:2000]
    assert "user-service-" in text_of(r) and "STATUS" in text_of(r), text_of(r)[:2000]

    r = await c.call_tool("get_resource", {"kind": "svc", "name": "user-service", "namespace": ns})
    assert not r.is_error, text_of(r)
    obj = r.structured_content["result"]["object"]
    assert obj["kind"] == "Service" and obj["metadata"]["name"] == "user-service", text_of(r)[:2000]
    assert "managedFields" not in obj["metadata"] and "targetPort" in text_of(r), text_of(r)[:2000]

    # bad arguments: clear MCP errors (a tool result with isError), never a crash
    r = await c.call_tool("list_resources", {"kind": "pods", "namespacee": ns})
    text = text_of(r)
    assert r.is_error and "namespacee" in text and "Extra inputs are not permitted" in text, text
    r = await c.call_tool("list_resources", {"kind": "pods", "budget": "lots"})
    assert r.is_error and "budget" in text_of(r) and "integer" in text_of(r), text_of(r)[:2000]
    r = await c.call_tool("list_resources", {})
    assert r.is_error and "kind" in text_of(r) and "required" in text_of(r).lower(), text_of(r)[:2000]
    r = await c.call_tool("list_resources", {"kind": "flurbs"})
    assert r.is_error and "unknown resource kind 'flurbs'" in text_of(r), text_of(r)[:2000]
    assert r.structured_content and "flurbs" in r.structured_content["error"], text_of(r)[:2000]
    r = await c.call_tool("get_resource", {"kind": "pod", "name": "leaky"})
    assert r.is_error and "namespaced" in text_of(r) and "namespace" in text_of(r), text_of(r)[:2000]
    r = await c.call_tool("get_resource", {"kind": "pod", "name": "no-such-pod", "namespace": ns})
    assert r.is_error and "404" in text_of(r) and "no-such-pod" in text_of(r), text_of(r)[:2000]
    try:
        r = await c.call_tool("no_such_tool", {})
    except Exception as e:  # a JSON-RPC error is as clear as an error result
        assert "no_such_tool" in str(e)
    else:
        assert r.is_error and "no_such_tool" in text_of(r), text_of(r)[:2000]


# ------------------------------------------------------------------------------------------------ in memory
def test_in_memory(probe_sim: ProbeSim, probe_server) -> None:
    async def main() -> None:
        async with Client(probe_server) as c:
            await _exercise(c, probe_sim)

    run_async(main)


def test_in_memory_every_tool_answers(probe_sim: ProbeSim, probe_server) -> None:
    """Each tool, called with its required arguments filled from the realistic pool, passes validation and
    answers with text and structured content (an error result is allowed where the guess names nothing, but
    never a tool crash)."""
    pools = realistic_values(probe_sim)

    async def main() -> None:
        async with Client(probe_server) as c:
            for t in (await c.list_tools()).tools:
                args = argument_combinations(t.input_schema, pools)[0]
                r = await c.call_tool(t.name, args)
                text = text_of(r)
                assert text.strip(), t.name
                assert "validation error" not in text, f"{t.name}({args}): {text}"
                assert isinstance(r.structured_content, dict), (t.name, text)
                assert "failed: " not in text, f"{t.name}({args}) crashed: {text}"

    run_async(main)


def test_in_memory_legacy_handshake(probe_sim: ProbeSim, probe_server) -> None:
    """Clients that speak a pre-2026 protocol (initialize handshake, real JSON-RPC framing) work too."""
    async def main() -> None:
        async with Client(probe_server, mode="legacy") as c:
            assert c.server_info.name == "aoi-probe"
            assert "read-only" in (c.instructions or "").lower() or "cannot change" in (c.instructions or "")
            await _exercise(c, probe_sim)

    run_async(main)


# ---------------------------------------------------------------------------------------------------- stdio
def test_stdio_subprocess(probe_sim: ProbeSim) -> None:
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "aoi", "probe", "--kubeconfig", str(probe_sim.kubeconfig)],
                                   env=probe_sim.env(), cwd=str(probe_sim.home))

    async def main() -> None:
        async with Client(params) as c:
            assert c.server_info.name == "aoi-probe"
            await _exercise(c, probe_sim)

    run_async(main)


def test_stdio_uses_kubeconfig_env_and_prints_only_mcp(probe_sim: ProbeSim) -> None:
    """No --kubeconfig: $KUBECONFIG is used. stdout holds nothing but JSON-RPC messages; Ctrl-C exits cleanly."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    proc = subprocess.Popen([sys.executable, "-m", "aoi", "probe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=probe_sim.env(), cwd=probe_sim.home, text=True)
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write(json.dumps(init) + "\n")
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())
        assert first["id"] == 1 and first["result"]["serverInfo"]["name"] == "aoi-probe"
        proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        proc.stdin.write(json.dumps(listing) + "\n")
        proc.stdin.flush()
        second = json.loads(proc.stdout.readline())
        assert {t["name"] for t in second["result"]["tools"]} == TOOL_NAMES
        assert all(t["annotations"]["readOnlyHint"] is True for t in second["result"]["tools"])
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=START_GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    for line in out.splitlines():  # anything left on stdout is still MCP
        assert json.loads(line)["jsonrpc"] == "2.0"


# --------------------------------------------------------------------------------------------- CLI failures
@pytest.mark.parametrize("case", ["missing", "garbage", "unreachable", "bad-token", "bad-context"])
def test_cli_startup_errors_are_one_line_exit_2(probe_sim: ProbeSim, tmp_path: Path, case: str) -> None:
    kc = tmp_path / "kubeconfig"
    text = probe_sim.kubeconfig.read_text()
    extra: list[str] = []
    if case == "garbage":
        kc.write_text("clusters: [\n")
    elif case == "unreachable":
        kc.write_text(text.replace(probe_sim.server.url, "https://127.0.0.1:9"))
    elif case == "bad-token":
        kc.write_text(text.replace(probe_sim.server.token, "not-the-token"))
    elif case == "bad-context":
        kc.write_text(text)
        extra = ["--context", "prod"]
    proc = subprocess.run(_probe_argv(kc, *extra), capture_output=True, text=True, env=probe_sim.env(),
                          cwd=tmp_path, timeout=START_GUARD_S, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aoi probe: error: "), proc.stderr
    expected = {"missing": "does not exist", "garbage": "cannot read kubeconfig", "unreachable": "cannot reach",
                "bad-token": "401", "bad-context": "context 'prod' is not in"}[case]
    assert expected in lines[0]
    assert probe_sim.server.token not in proc.stderr


def test_cli_http_requires_a_token(probe_sim: ProbeSim, tmp_path: Path) -> None:
    proc = subprocess.run(_probe_argv(probe_sim.kubeconfig, "--transport", "http", "--port", "0"),
                          capture_output=True, text=True, env=probe_sim.env(), cwd=tmp_path, timeout=START_GUARD_S)
    assert proc.returncode == 2 and "--auth-token-file" in proc.stderr and "Traceback" not in proc.stderr
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    proc = subprocess.run(_probe_argv(probe_sim.kubeconfig, "--transport", "http", "--port", "0",
                                      "--auth-token-file", str(short)),
                          capture_output=True, text=True, env=probe_sim.env(), cwd=tmp_path, timeout=START_GUARD_S)
    assert proc.returncode == 2 and "at least 16 characters" in proc.stderr


def test_token_file_and_header_checks(tmp_path: Path) -> None:
    f = tmp_path / "t"
    f.write_text("  0123456789abcdef0123  \n")
    assert read_token(f) == "0123456789abcdef0123"
    auth = BearerAuth(app=None, token="0123456789abcdef0123")
    assert auth.authorized([(b"authorization", b"Bearer 0123456789abcdef0123")]) is True
    assert auth.authorized([(b"authorization", b"bearer 0123456789abcdef0123")]) is True
    assert auth.authorized([(b"authorization", b"Basic 0123456789abcdef0123")]) is False
    assert auth.authorized([(b"authorization", b"Bearer 0123456789abcdef012")]) is False
    assert auth.authorized([(b"authorization", b"Bearer 0123456789abcdef0123"),
                            (b"authorization", b"Bearer other")]) is False
    assert auth.authorized([(b"authorization", b"Bearer")]) is False
    assert auth.authorized([(b"x-other", b"1")]) is None


# ----------------------------------------------------------------------------------------- streamable HTTP
@dataclass
class HttpProbe:
    url: str
    token: str
    proc: subprocess.Popen
    stderr: list[str]


@pytest.fixture(scope="module")
def http_probe(probe_sim: ProbeSim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpProbe]:
    home = tmp_path_factory.mktemp("http")
    token_file = home / "probe.token"
    token = "t0k-" + os.urandom(16).hex()
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    proc = subprocess.Popen(_probe_argv(probe_sim.kubeconfig, "--transport", "http", "--port", "0",
                                        "--auth-token-file", str(token_file)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=probe_sim.env(), cwd=home)
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "serving MCP" in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    ready.wait(START_GUARD_S)
    served = [ln for ln in lines if "serving MCP" in ln]
    if not served:
        proc.kill()
        pytest.fail(f"the HTTP probe did not start: {''.join(lines)}")
    url = served[0].split(" on ", 1)[1].split(";", 1)[0].strip()
    yield HttpProbe(url=url, token=token, proc=proc, stderr=lines)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_http_binds_loopback_under_mcp(http_probe: HttpProbe) -> None:
    assert http_probe.url.startswith("http://127.0.0.1:") and http_probe.url.endswith("/mcp")


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", "Basic dXNlcjpwYXNz", "Bearer"])
def test_http_rejects_requests_without_the_token(http_probe: HttpProbe, header: str | None) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if header:
        headers["Authorization"] = header
    for method, path in (("POST", ""), ("GET", ""), ("DELETE", ""), ("GET", "/../healthz")):
        r = httpx2.request(method, http_probe.url + path, headers=headers, json=init if method == "POST" else None,
                           timeout=30)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="aoi-probe"')
        assert ('error="invalid_token"' in challenge) == (header is not None)
        assert r.json()["error_description"]


def test_http_with_token(probe_sim: ProbeSim, http_probe: HttpProbe) -> None:
    async def main() -> None:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {http_probe.token}"},
                                  timeout=httpx2.Timeout(60, read=120))
        async with http, Client(streamable_http_client(http_probe.url, http_client=http)) as c:
            assert c.server_info.name == "aoi-probe"
            await _exercise(c, probe_sim)

    run_async(main)


def test_http_client_without_token_fails(http_probe: HttpProbe) -> None:
    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    async def main() -> None:
        http = httpx2.AsyncClient(timeout=httpx2.Timeout(30), event_hooks={"response": [record]})
        async with http, Client(streamable_http_client(http_probe.url, http_client=http)) as c:
            await c.list_tools()

    with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the refusal in an ExceptionGroup
        run_async(main)
    assert statuses and set(statuses) == {401}


def test_http_ctrl_c_exits_cleanly(probe_sim: ProbeSim, tmp_path: Path) -> None:
    token_file = tmp_path / "tok"
    token_file.write_text("0123456789abcdef0123456789abcdef")
    token_file.chmod(0o600)
    proc = subprocess.Popen(_probe_argv(probe_sim.kubeconfig, "--transport", "http", "--port", "0",
                                        "--auth-token-file", str(token_file)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=probe_sim.env(), cwd=tmp_path)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "serving MCP" in first, first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=START_GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and out == ""


# ---------------------------------------------------------------------------------------- the MCP Inspector
INSPECTOR = REPO / "node_modules" / "@modelcontextprotocol" / "inspector"


def _inspector(*args: str, cwd: Path = REPO) -> tuple[int, dict, str]:
    if shutil.which("node") is None or shutil.which("npx") is None:
        pytest.skip("node/npx are not installed: the MCP Inspector CLI (npm) cannot run")
    if not INSPECTOR.exists():
        pytest.skip("the MCP Inspector is not installed in node_modules: run `make test` (it runs `npm ci`)")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "npm_config_update_notifier": "false"}
    proc = subprocess.run(["npx", "--yes", "@modelcontextprotocol/inspector", "--cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=START_GUARD_S, stdin=subprocess.DEVNULL)
    out = proc.stdout
    start = out.find("{")
    doc = json.loads(out[start:]) if start >= 0 else {}
    return proc.returncode, doc, proc.stderr


def test_inspector_cli_stdio(probe_sim: ProbeSim) -> None:
    target = _probe_argv(probe_sim.kubeconfig)
    rc, doc, err = _inspector(*target, "--method", "tools/list")
    assert rc == 0, err
    assert {t["name"] for t in doc["tools"]} == TOOL_NAMES
    for t in doc["tools"]:
        assert t["annotations"]["readOnlyHint"] is True and t["description"], t["name"]

    rc, doc, err = _inspector(*target, "--method", "tools/call", "--tool-name", "list_resources",
                              "--tool-arg", "kind=pods", f"namespace={probe_sim.namespace}")
    assert rc == 0, err
    assert not doc.get("isError")
    assert doc["structuredContent"]["result"]["count"] >= 20
    assert "leaky" in doc["content"][0]["text"]

    rc, doc, err = _inspector(*target, "--method", "tools/call", "--tool-name", "get_resource",
                              "--tool-arg", "kind=flurbs", "name=x")
    assert rc != 0 and doc["isError"] is True
    assert "unknown resource kind 'flurbs'" in doc["content"][0]["text"]

    rc, doc, err = _inspector(*target, "--method", "tools/call", "--tool-name", "list_resources",
                              "--tool-arg", "kind=nodes", "bogus=1")
    assert rc != 0 and doc["isError"] is True and "bogus" in doc["content"][0]["text"]


def test_inspector_cli_http(probe_sim: ProbeSim, http_probe: HttpProbe) -> None:
    rc, doc, err = _inspector(http_probe.url, "--transport", "http", "--header",
                              f"Authorization: Bearer {http_probe.token}", "--method", "tools/call",
                              "--tool-name", "get_resource", "--tool-arg", "kind=svc", "name=user-service",
                              f"namespace={probe_sim.namespace}")
    assert rc == 0, err
    assert doc["structuredContent"]["result"]["object"]["metadata"]["name"] == "user-service"
