"""A small, honest model of what a container's command does.

It understands what people really put in manifests for test pods: ``sleep N``, ``sh -c "echo hi; exit 3"``,
``tail -f /dev/null``, ``while true; do ...; done``, ``false``. A binary the image does not have fails to
start exactly as containerd reports it. Anything it does not understand in a shell script exits 127 with
sh's own message, rather than pretending to run.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from cluster.sim.quantity import QuantityError, memory_bytes
from cluster.sim.runtime.behavior import Behavior, ContainerContext
from cluster.sim.runtime.images import ImageInfo

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

FOREVER = None
_SHELLS = {"sh", "/bin/sh", "bash", "/bin/bash", "/usr/bin/bash", "ash"}


def _not_found(binary: str) -> str:
    return ("failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
            f'failed: unable to start container process: exec: "{binary}": executable file not found in $PATH: '
            "unknown")


def _run_script(script: str) -> tuple[float | None, int, list[tuple[float, str]]]:
    """(seconds until exit or None, exit code, output lines) for a simple sh script."""
    t = 0.0
    out: list[tuple[float, str]] = []
    if re.search(r"while\s+(true|:)\s*;\s*do|tail\s+-f|sleep\s+infinity|sleep\s+inf\b", script):
        # Lines echoed before the loop still appear.
        head = re.split(r"while\s+(true|:)|tail\s+-f|sleep\s+inf", script)[0]
        _, _, out = _run_script(head) if head.strip() else (None, 0, [])
        return FOREVER, 0, out
    last = 0
    for stmt in re.split(r";|&&|\n", script):
        words = stmt.strip().split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        if cmd == "sleep":
            try:
                t += float(args[0].rstrip("s")) if args else 0.0
            except ValueError:
                return t, 1, [*out, (t, f"sleep: invalid number '{args[0]}'")]
            last = 0
        elif cmd == "echo":
            out.append((t, " ".join(a.strip("'\"") for a in args)))
            last = 0
        elif cmd == "exit":
            try:
                return t, int(args[0]) if args else last, out
            except ValueError:
                return t, 2, [*out, (t, f"sh: exit: Illegal number: {args[0]}")]
        elif cmd in ("true", ":"):
            last = 0
        elif cmd == "false":
            last = 1
            if "&&" in script:
                return t, 1, out
        elif cmd in ("date", "hostname", "env", "printenv", "id", "ls", "cat", "touch", "mkdir"):
            last = 0
        else:
            return t, 127, [*out, (t, f"sh: {cmd}: not found")]
    return t, last, out


def default_behavior(cluster: SimCluster, ctx: ContainerContext) -> Behavior:
    c = ctx.container
    image = c.get("image", "")
    info, pull_error = cluster.images.lookup(image)
    if pull_error:
        return Behavior(pull_error=pull_error)
    assert info is not None
    base = Behavior(image_size=info.size, memory_bytes=info.memory_bytes, cpu_cores=info.cpu_cores,
                    log_style=info.log_style, stop_seconds=info.stop_seconds)
    behavior = _command_behavior(info, c.get("command") or [], c.get("args") or [], base)
    return _memory_limit(c, behavior)


def _command_behavior(info: ImageInfo, command: list[str], args: list[str], base: Behavior) -> Behavior:
    argv = [*command, *args]
    if not argv:
        # The image's own entrypoint: servers serve, shell images run `sh` with no terminal and exit at once.
        if info.kind == "shell":
            return _replace(base, run_seconds=0.05, exit_code=0)
        return base
    binary = argv[0]
    if info.binaries and binary not in info.binaries and binary.rsplit("/", 1)[-1] not in info.binaries:
        return _replace(base, start_error=_not_found(binary))
    name = binary.rsplit("/", 1)[-1]
    # The commands modelled here write only what their script echoes, never the image's server log.
    quiet = _replace(base, log_style="silent")
    if binary in _SHELLS or name in ("sh", "bash", "ash"):
        if len(argv) >= 3 and argv[1] == "-c":
            secs, code, out = _run_script(argv[2])
            return _replace(quiet, run_seconds=secs, exit_code=code, output=tuple(out))
        return _replace(quiet, run_seconds=0.05, exit_code=0)
    if name == "sleep":
        if argv[1:2] in (["infinity"], ["inf"]):
            return quiet
        secs, code, out = _run_script(" ".join(shlex.quote(a) for a in argv))
        return _replace(quiet, run_seconds=secs, exit_code=code, output=tuple(out))
    if name in ("true", "false", "echo", "exit"):
        secs, code, out = _run_script(" ".join(argv))
        return _replace(quiet, run_seconds=secs or 0.05, exit_code=code, output=tuple(out))
    if name == "tail" and "-f" in argv:
        return quiet
    if info.kind == "shell" and name in ("date", "env", "printenv", "hostname", "id", "ls", "cat"):
        return _replace(quiet, run_seconds=0.05, exit_code=0)
    return base


def _memory_limit(container: dict, b: Behavior) -> Behavior:
    """A process whose working set exceeds its memory limit is OOM-killed shortly after it starts."""
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if not limit or b.start_error:
        return b
    try:
        limit_bytes = memory_bytes(limit)
    except QuantityError:
        return b
    if b.memory_bytes > limit_bytes:
        return _replace(b, run_seconds=min(b.run_seconds or 3.0, 3.0), exit_code=137, reason="OOMKilled")
    return b


def _replace(b: Behavior, **kw: object) -> Behavior:
    from dataclasses import replace

    return replace(b, **kw)  # type: ignore[arg-type]
