"""``kubectl exec`` against the simulator: the WebSocket remote-command protocol (driven by the real kubectl, the
Python client and a raw WebSocket client) and the command model behind it (``cluster.sim.runtime.shell``)."""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import websocket
import yaml

from cluster.sim import SimCluster
from cluster.sim.runtime.shell import ExecContext, ExecResult, ExecStartError
from cluster.sim.server import SimServer
from tests.conftest import Kubectl

# ------------------------------------------------------------------------------------------------ helpers


def _rt(cluster: SimCluster, plural: str):
    rt = cluster.registry.lookup("", "v1", plural)
    assert rt is not None
    return rt


def _setup(cluster: SimCluster) -> None:
    """A busybox pod `bb` with env from a Secret and a ConfigMap, both also mounted; a pod that never starts
    (`pending`), one that has completed (`done`) and one no node fits (`unsched`)."""
    with cluster.lock:
        api = cluster.api
        api.create(_rt(cluster, "configmaps"), "default", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
            "data": {"key": "value1\n", "mode": "fast"}})
        api.create(_rt(cluster, "secrets"), "default", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}})
        pods = _rt(cluster, "pods")
        api.create(pods, "default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bb"},
                                     "spec": {"containers": [{
                                         "name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"],
                                         "env": [{"name": "FOO", "value": "bar"},
                                                 {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {
                                                     "name": "creds", "key": "password"}}},
                                                 {"name": "MODE", "valueFrom": {"configMapKeyRef": {
                                                     "name": "cfg", "key": "mode"}}},
                                                 {"name": "MY_POD", "valueFrom": {"fieldRef": {
                                                     "fieldPath": "metadata.name"}}}],
                                         "volumeMounts": [{"name": "config", "mountPath": "/etc/config"},
                                                          {"name": "secret", "mountPath": "/etc/secret",
                                                           "readOnly": True}]}],
                                         "volumes": [{"name": "config", "configMap": {"name": "cfg"}},
                                                     {"name": "secret", "secret": {"secretName": "creds",
                                                                                   "items": [{"key": "password",
                                                                                              "path": "pw"}]}}]}})
        api.create(pods, "default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending"},
                                     "spec": {"containers": [{"name": "main",
                                                              "image": "registry.invalid/nothing:1"}]}})
        api.create(pods, "default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "done"},
                                     "spec": {"restartPolicy": "Never",
                                              "containers": [{"name": "main", "image": "busybox",
                                                              "command": ["true"]}]}})
        api.create(pods, "default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unsched"},
                                     "spec": {"nodeSelector": {"no-such": "node"},
                                              "containers": [{"name": "main", "image": "busybox",
                                                              "command": ["sleep", "60"]}]}})
    cluster.advance(10)
    phases = {p["metadata"]["name"]: p["status"]["phase"] for p in cluster.store.list("pods", "default")}
    assert phases == {"bb": "Running", "pending": "Pending", "done": "Succeeded", "unsched": "Pending"}


@pytest.fixture
def server(manual_server: SimServer) -> SimServer:
    _setup(manual_server.cluster)
    return manual_server


@pytest.fixture
def kc(server: SimServer, manual_kubectl: Kubectl) -> Kubectl:
    """kubectl against the manual-clock server set up by ``_setup``."""
    return manual_kubectl


def _ws_url(server: SimServer, pod: str, command: list[str], **params: str) -> str:
    query = "&".join([*(f"command={quote(c, safe='')}" for c in command), *(f"{k}={v}" for k, v in params.items())])
    return f"wss://127.0.0.1:{server.port}/api/v1/namespaces/default/pods/{pod}/exec?{query}"


def _ws(server: SimServer, url: str, protocols: list[str], token: str | None = None) -> websocket.WebSocket:
    return websocket.create_connection(url, header=[f"Authorization: Bearer {token or server.token}"],
                                       subprotocols=protocols, sslopt={"cert_reqs": ssl.CERT_NONE}, timeout=10)


def _frames(ws: websocket.WebSocket) -> list[bytes]:
    """Data frames until the server's close frame (code 1000, a normal closure)."""
    frames = []
    while True:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            assert data[:2] == b"\x03\xe8"
            # websocket-client has answered the close frame but keeps the socket open (its close() is a no-op
            # now); close it, as client-go does, or the server's TLS shutdown waits for it.
            ws.shutdown()
            return frames
        frames.append(data if isinstance(data, bytes) else data.encode())


# ----------------------------------------------------------------------------------- the real kubectl

@pytest.mark.kubectl
def test_exec_env_resolves_spec_configmap_and_secret(kc: Kubectl) -> None:
    proc = kc.run("exec", "bb", "--", "env")
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert env["FOO"] == "bar"
    assert env["PASSWORD"] == "hunter2"  # the Secret's value, decoded
    assert env["MODE"] == "fast"
    assert env["MY_POD"] == env["HOSTNAME"] == "bb"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert proc.stderr == ""


@pytest.mark.kubectl
def test_exec_cat_files_from_mounted_configmap_and_secret(kc: Kubectl) -> None:
    assert kc("exec", "bb", "--", "cat", "/etc/config/key") == "value1\n"
    assert kc("exec", "bb", "--", "cat", "/etc/secret/pw") == "hunter2"
    assert kc("exec", "bb", "--", "ls", "/etc/config") == "key\nmode\n"
    resolv = kc("exec", "bb", "-c", "main", "--", "cat", "/etc/resolv.conf")
    assert resolv == ("search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\n"
                      "options ndots:5\n")


@pytest.mark.kubectl
def test_exec_exit_code_becomes_kubectls(kc: Kubectl) -> None:
    proc = kc.run("exec", "bb", "--", "sh", "-c", "echo hi; exit 3", check=False)
    assert (proc.returncode, proc.stdout) == (3, "hi\n")
    assert "command terminated with exit code 3" in proc.stderr


@pytest.mark.kubectl
def test_exec_unknown_binary_fails_to_start(kc: Kubectl) -> None:
    proc = kc.run("exec", "bb", "--", "foo", check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: Internal error occurred: Internal error occurred: error executing command "
                                  'in container: failed to exec in container: failed to start exec "')
    assert proc.stderr.rstrip().endswith('OCI runtime exec failed: exec failed: unable to start container process: '
                                         'exec: "foo": executable file not found in $PATH: unknown')
    # busybox has no bash
    assert 'exec: "bash": executable file not found' in kc.run("exec", "bb", "--", "bash", check=False).stderr


@pytest.mark.kubectl
def test_exec_unknown_command_in_a_script_is_sh_not_found(kc: Kubectl) -> None:
    proc = kc.run("exec", "bb", "--", "sh", "-c", "echo before; foo; echo after $?", check=False)
    assert (proc.returncode, proc.stdout) == (0, "before\nafter 127\n")
    assert proc.stderr == "sh: foo: not found\n"


@pytest.mark.kubectl
def test_exec_into_pods_that_are_not_running(kc: Kubectl) -> None:
    pending = kc.run("exec", "pending", "--", "ls", check=False)
    assert pending.returncode == 1
    assert pending.stderr.strip() == ('error: Internal error occurred: unable to upgrade connection: container not '
                                      'found ("main")')
    done = kc.run("exec", "done", "--", "ls", check=False)
    assert done.stderr.strip() == "error: cannot exec into a container in a completed pod; current phase is Succeeded"
    unsched = kc.run("exec", "unsched", "--", "ls", check=False)
    assert unsched.stderr.strip() == "Error from server (BadRequest): pod unsched does not have a host assigned"
    missing = kc.run("exec", "missing", "--", "ls", check=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "missing" not found'


@pytest.mark.kubectl
def test_exec_missing_container(kc: Kubectl) -> None:
    proc = kc.run("exec", "bb", "-c", "nope", "--", "ls", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "Error from server (BadRequest): container nope is not valid for pod bb"


@pytest.mark.kubectl
def test_exec_without_a_valid_token_is_unauthorized(server: SimServer, kc: Kubectl, tmp_path: Path) -> None:
    cfg = yaml.safe_load(kc.kubeconfig.read_text())
    for user in cfg["users"]:
        user["user"]["token"] = "not-the-token"
    bad = tmp_path / "bad" / "kubeconfig"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump(cfg))
    proc = Kubectl(bad).run("exec", "bb", "--", "ls", check=False)
    assert proc.returncode == 1
    # "(Unauthorized)", or, when kubectl has no discovery cache yet, "(the server has asked for the client to
    # provide credentials)": either way from the 401 of its first request.
    assert "error: You must be logged in to the server (" in proc.stderr
    # The upgrade request itself is refused the same way, before any WebSocket exists.
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        _ws(server, _ws_url(server, "bb", ["ls"], stdout="true"), ["v5.channel.k8s.io"], token="not-the-token")
    assert err.value.status_code == 401
    assert json.loads(err.value.resp_body)["message"] == "Unauthorized"


@pytest.mark.kubectl
def test_exec_with_stdin(kc: Kubectl) -> None:
    assert kc("exec", "-i", "bb", "--", "cat", input="piped in\n") == "piped in\n"
    assert kc("exec", "-i", "bb", "--", "sh", input="echo $FOO | wc -c\n") == "4\n"


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` to give kubectl a terminal")
def test_exec_with_a_terminal_runs_non_interactively(kc: Kubectl) -> None:
    env_cmd = f"KUBECONFIG={kc.kubeconfig} HOME={kc.kubeconfig.parent}"
    # The terminal's input stays open, as a person's would: stdin reaching EOF after the session ended would
    # have kubectl log its failed write of the close signal (as against a real cluster).
    proc = subprocess.Popen(["script", "-qec", f"{env_cmd} kubectl exec -it bb -- sh -c 'echo a; echo b >&2; exit 4'",
                             "/dev/null"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.wait(timeout=60) == 4
        assert proc.stdout is not None
        assert proc.stdout.read().replace(b"\r\n", b"\n") == b"a\nb\ncommand terminated with exit code 4\n"
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.kubectl
def test_exec_on_a_real_time_cluster(kubectl: Kubectl, namespace: str) -> None:
    kubectl("run", "box", "-n", namespace, "--image=busybox:1.36", "--env=GREETING=hello", "--", "sleep", "3600")
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/box", "--timeout=60s")
    assert kubectl("exec", "-n", namespace, "box", "--", "sh", "-c", "echo $GREETING from $(hostname)") == \
        "hello from box\n"


# ------------------------------------------------------------------------- protocol, without kubectl
def test_websocket_v5_stream_framing_and_status(server: SimServer) -> None:
    url = _ws_url(server, "bb", ["sh", "-c", "echo out; echo err >&2; exit 7"], stdout="true", stderr="true")
    ws = _ws(server, url, ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    assert ws.subprotocol == "v5.channel.k8s.io"
    frames = _frames(ws)
    assert frames[:3] == [b"\x01", b"\x01out\n", b"\x02err\n"]  # an empty frame on stdout opens the session
    status = json.loads(frames[3][1:])
    assert frames[3][0] == 3
    assert status == {"metadata": {}, "status": "Failure",
                      "message": "command terminated with non-zero exit code: command terminated with exit code 7",
                      "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "7"}]}}


def test_websocket_v5_stdin_ends_with_the_close_signal(server: SimServer) -> None:
    ws = _ws(server, _ws_url(server, "bb", ["wc", "-l"], stdin="true", stdout="true"), ["v5.channel.k8s.io"])
    ws.send_binary(b"\x00one\ntwo\n")
    ws.send_binary(b"\xff\x00")  # v5: stream 0 is closed
    assert _frames(ws) == [b"\x01", b"\x012\n", b'\x03{"metadata":{},"status":"Success"}']


def test_websocket_v4_and_base64(server: SimServer) -> None:
    ws = _ws(server, _ws_url(server, "bb", ["cat"], stdin="true", stdout="true"), ["v4.channel.k8s.io"])
    ws.send_binary(b"\x00v4 has no close signal\n")  # stdin ends when the client goes quiet
    assert _frames(ws)[1] == b"\x01v4 has no close signal\n"
    ws = _ws(server, _ws_url(server, "bb", ["hostname"], stdout="true"), ["v4.base64.channel.k8s.io"])
    assert _frames(ws)[:2] == [b"1", b"1YmIK"]  # "bb\n"


def test_websocket_tty_merges_stderr_and_translates_newlines(server: SimServer) -> None:
    url = _ws_url(server, "bb", ["sh", "-c", "echo a; echo b >&2"], stdin="true", stdout="true", tty="true")
    ws = _ws(server, url, ["v5.channel.k8s.io"])
    ws.send_binary(b'\x04{"Width":80,"Height":24}')
    assert _frames(ws)[1] == b"\x01a\r\nb\r\n"


def test_websocket_refusals_are_statuses(server: SimServer) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        _ws(server, _ws_url(server, "bb", ["ls"], stdout="true"), ["channel.k8s.io"])
    assert err.value.status_code == 400
    assert "requested protocol(s) are not supported" in json.loads(err.value.resp_body)["message"]
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        _ws(server, _ws_url(server, "bb", [], stdout="true"), ["v5.channel.k8s.io"])
    assert json.loads(err.value.resp_body)["message"] == "you must specify at least one command for the container"
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        _ws(server, _ws_url(server, "bb", ["ls"], stdout="true").replace("/exec?", "/attach?"), ["v5.channel.k8s.io"])
    assert err.value.status_code == 400


def test_exec_without_a_websocket_upgrade(server: SimServer) -> None:
    def post(headers: dict[str, str], pod: str = "bb") -> tuple[int, str]:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ssl._create_unverified_context(),
                                           timeout=10)
        try:
            conn.request("POST", f"/api/v1/namespaces/default/pods/{pod}/exec?command=ls&stdout=true",
                         headers={"Authorization": f"Bearer {server.token}", **headers})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())["message"]
        finally:
            conn.close()

    assert post({}) == (400, "Upgrade request required")
    code, message = post({"Connection": "Upgrade", "Upgrade": "SPDY/3.1"})  # kubectl's fallback
    assert code == 400
    assert message.startswith("this simulated cluster serves pods/exec over WebSockets only")
    assert post({"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, pod="nope") == (404, 'pods "nope" not found')


def test_python_client_stream(server: SimServer) -> None:
    from kubernetes import config
    from kubernetes.client import CoreV1Api
    from kubernetes.stream import stream

    assert server.kubeconfig_path is not None
    api = CoreV1Api(config.new_client_from_config(config_file=str(server.kubeconfig_path)))
    resp = stream(api.connect_get_namespaced_pod_exec, "bb", "default", command=["sh", "-c", "printenv FOO; exit 2"],
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    assert (resp.read_stdout(), resp.returncode) == ("bar\n", 2)
    resp.sock.shutdown()


# ------------------------------------------------------------------------------------ the command model
def _run(cluster: SimCluster, *argv: str, pod: str = "bb", stdin: bytes = b"") -> ExecResult:
    p = cluster.store.get("pods", "default", pod)
    assert p is not None
    ctx = ExecContext(cluster, p, p["spec"]["containers"][0], list(argv), stdin)
    return cluster.shell.run(ctx)


def _out(cluster: SimCluster, script: str, **kw: str) -> tuple[str, str, int]:
    r = _run(cluster, "sh", "-c", script, **kw)  # type: ignore[arg-type]
    return r.stdout.decode(), r.stderr.decode(), r.exit_code


@pytest.fixture
def shell_cluster(cluster: SimCluster) -> SimCluster:
    _setup(cluster)
    with cluster.lock:
        cluster.api.create(_rt(cluster, "pods"), "default", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                                     "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app/key.conf",
                                                       "subPath": "key"}]}],
                     "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}]}})
        cluster.api.create(_rt(cluster, "pods"), "default", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db"},
            "spec": {"containers": [{"name": "mongo", "image": "mongo:7.0"}]}})
    cluster.advance(10)
    return cluster


def test_shell_lists_pipes_and_expansion(shell_cluster: SimCluster) -> None:
    c = shell_cluster
    assert _out(c, 'X="a  b"; echo $X "$X" ${FOO}-$HOSTNAME \'$FOO\'') == ("a b a  b bar-bb $FOO\n", "", 0)
    assert _out(c, "false && echo no || echo yes; true || echo no") == ("yes\n", "", 0)
    assert _out(c, "env | grep -c ^KUBERNETES_ | head -1") == ("8\n", "", 0)
    assert _out(c, "echo $(hostname)/`id -u`; cd /etc/config && ls *e* && pwd") == ("bb/0\nkey\nmode\n/etc/config\n",
                                                                                    "", 0)
    assert _out(c, "cat /nope 2>/dev/null || echo missing; cat /nope 2>&1 | wc -l") == ("missing\n1\n", "", 0)
    assert _out(c, "[ -f /etc/config/key ] && test $FOO = bar && echo ok") == ("ok\n", "", 0)
    assert _out(c, "echo x > /tmp/f") == ("", "sh: can't create /tmp/f: Read-only file system\n", 1)
    assert _out(c, "for i in 1 2; do echo $i; done") == ("", 'sh: "for": compound commands are not simulated\n', 2)
    assert _out(c, "exit 300") == ("", "", 44)
    assert _run(c, "sh", stdin=b"echo from stdin; exit 4") == ExecResult(b"from stdin\n", b"", 4)


def test_container_filesystem(shell_cluster: SimCluster) -> None:
    c = shell_cluster
    hosts = _run(c, "cat", "/etc/hosts").stdout.decode()
    ip = c.store.get("pods", "default", "bb")["status"]["podIP"]  # type: ignore[index]
    assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert hosts.endswith(f"{ip}\tbb\n")
    assert _run(c, "cat", "/proc/1/cmdline").stdout == b"sleep\x003600\x00"
    assert _run(c, "cat", "/etc/hostname").stdout == b"bb\n"
    assert _run(c, "ls", "/var/run/secrets/kubernetes.io/serviceaccount").stdout == b"ca.crt\nnamespace\ntoken\n"
    assert _run(c, "cat", "/etc/app/key.conf", pod="web").stdout == b"value1\n"  # a subPath mount
    missing = _run(c, "cat", "/etc/app/nope", pod="web")
    assert (missing.stderr, missing.exit_code) == (b"cat: /etc/app/nope: No such file or directory\n", 1)  # GNU
    busybox = _run(c, "cat", "/nope")
    assert busybox.stderr == b"cat: can't open '/nope': No such file or directory\n"
    assert _run(c, "ps").stdout.decode().splitlines()[1] == "    1 root      0:00 sleep 3600"


def test_which_binaries_exist(shell_cluster: SimCluster) -> None:
    c = shell_cluster
    with pytest.raises(ExecStartError, match=r'exec: "/usr/bin/foo": stat /usr/bin/foo: no such file or directory'):
        _run(c, "/usr/bin/foo")
    with pytest.raises(ExecStartError, match='exec: "exit": executable file not found'):  # a shell builtin
        _run(c, "exit", "3")
    with pytest.raises(ExecStartError, match='exec: "ps": executable file not found'):  # nginx has no procps
        _run(c, "ps", pod="web")
    assert _run(c, "bash", "-c", "nope", pod="web").stderr == b"bash: line 1: nope: command not found\n"
    assert _run(c, "sh", "-c", "nope", pod="web").stderr == b"sh: 1: nope: not found\n"  # dash
    unsimulated = _run(c, "wget", "-qO-", "http://web")
    assert unsimulated.exit_code == 126
    assert b"not simulated" in unsimulated.stderr
    with pytest.raises(ExecStartError, match="executable file not found"):
        _run(c, "mongosh", "--eval", "1", pod="bb")


def test_registered_programs_are_restricted_to_their_images(shell_cluster: SimCluster) -> None:
    c = shell_cluster
    c.shell.register("mongosh", lambda ctx: ExecResult(b"test> " + " ".join(ctx.argv[1:]).encode() + b"\n"),
                     images=["mongo"])
    assert "mongosh" in c.shell.PROGRAMS
    assert _run(c, "mongosh", "--quiet", pod="db").stdout == b"test> --quiet\n"
    assert _run(c, "sh", "-c", "mongosh ping | wc -l", pod="db").stdout == b"1\n"
    with pytest.raises(ExecStartError):
        _run(c, "mongosh", pod="bb")
    assert _run(c, "sh", "-c", "mongosh", pod="web").stderr == b"sh: 1: mongosh: not found\n"
    c.shell.add_files(lambda ctx: {"/etc/mongod.conf": b"net:\n  port: 27017\n"}, images=["mongo"])
    assert _run(c, "cat", "/etc/mongod.conf", pod="db").stdout == b"net:\n  port: 27017\n"
