"""A small, honest ``mongo`` shell: the user-administration commands operators run, and run by ``kubectl exec``
(and by the bash scripts AIOpsLab's MongoDB pods carry in ``/scripts``), against the simulated data directory.

Understood: ``db.createUser``, ``db.dropUser``, ``db.grantRolesToUser``, ``db.revokeRolesFromUser``,
``db.getUsers``, ``db.getUser``, ``db.getSiblingDB(...)``, ``show users``, ``db.runCommand({usersInfo: ...})``,
``db.adminCommand({ping: 1})``, with ``-u/-p/--authenticationDatabase``. Anything else answers as the shell
would for an unknown function, rather than pretending.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from cluster.sim.apps.mongo import (
    MongoError,
    authenticate,
    create_user,
    drop_user,
    grant_roles,
    revoke_roles,
    users_doc,
)
from cluster.sim.apps.state import MongoData

BANNER = (
    "MongoDB shell version v4.4.6\n"
    "connecting to: mongodb://127.0.0.1:27017/admin?compressors=disabled&gssapiServiceName=mongodb\n"
    'Implicit session: session { "id" : UUID("5c1f7b36-8e8b-4d5e-9f51-2b8f3f1f2c11") }\n'
    "MongoDB server version: 4.4.6\n"
)


@dataclass
class MongoResult:
    stdout: str
    stderr: str
    code: int


def _js_to_json(text: str) -> object:
    """Relaxed JS object/array literal -> Python (unquoted keys, single quotes)."""
    s = re.sub(r"'([^']*)'", lambda m: json.dumps(m.group(1)), text)
    s = re.sub(r"([{,]\s*)([A-Za-z_$][\w$]*)\s*:", r'\1"\2":', s)
    return json.loads(s)


def _args(inner: str) -> list[object]:
    try:
        return list(_js_to_json(f"[{inner}]"))  # type: ignore[arg-type]
    except (ValueError, TypeError) as e:
        raise MongoError(f"SyntaxError: {e}", 9) from e


def _roles(value: object) -> list[tuple[str, str]]:
    out = []
    for r in value if isinstance(value, list) else []:
        if isinstance(r, dict):
            out.append((str(r.get("role")), str(r.get("db"))))
        else:
            out.append((str(r), "admin"))
    return out


def _pretty(doc: object) -> str:
    return json.dumps(doc, indent=1).replace('": ', '" : ')


CALL = re.compile(r"^\s*(?:db\.getSiblingDB\(\s*['\"](\w+)['\"]\s*\)|db)\.(\w+)\((.*)\)\s*;?\s*$", re.S)


def eval_js(data: MongoData, script: str, user: str | None, auth_required: bool) -> str:
    """Run the statements of ``--eval`` (or typed into the shell); returns what the shell prints."""
    out = []
    for stmt in [s for s in re.split(r";\s*(?=db\.|show\b|print|$)", script) if s.strip()]:
        stmt = stmt.strip()
        if stmt in ("show users", "show users;"):
            for d in users_doc(data):
                out.append(_pretty(d))
            continue
        m = CALL.match(stmt)
        if not m:
            raise MongoError(f"ReferenceError: {stmt.split('(')[0]} is not defined", 1)
        fn, inner = m.group(2), m.group(3)
        if auth_required and user is None and data.users and fn not in ("adminCommand",):
            raise MongoError(f"command {fn} requires authentication", 13)
        args = _args(inner) if inner.strip() else []
        if fn == "createUser":
            spec = args[0] if args and isinstance(args[0], dict) else {}
            create_user(data, str(spec.get("user")), str(spec.get("pwd")), _roles(spec.get("roles")))
            out.append(f"Successfully added user: {_pretty({'user': spec.get('user'), 'roles': spec.get('roles')})}")
        elif fn == "dropUser":
            out.append("true" if drop_user(data, str(args[0])) else "false")
        elif fn == "grantRolesToUser":
            grant_roles(data, str(args[0]), _roles(args[1] if len(args) > 1 else []))
        elif fn == "revokeRolesFromUser":
            revoke_roles(data, str(args[0]), _roles(args[1] if len(args) > 1 else []))
        elif fn == "getUsers":
            out.append(_pretty(users_doc(data)))
        elif fn == "getUser":
            docs = [d for d in users_doc(data) if d["user"] == str(args[0])]
            out.append(_pretty(docs[0]) if docs else "null")
        elif fn in ("runCommand", "adminCommand"):
            cmd = args[0] if args and isinstance(args[0], dict) else {}
            if "usersInfo" in cmd:
                out.append(_pretty({"users": users_doc(data), "ok": 1}))
            elif "ping" in cmd:
                out.append('{ "ok" : 1 }')
            else:
                raise MongoError(f"no such command: '{next(iter(cmd), '')}'", 59)
        else:
            raise MongoError(f"TypeError: db.{fn} is not a function", 1)
    return "\n".join(out) + ("\n" if out else "")


def run_mongo(data: MongoData, argv: list[str], auth_required: bool) -> MongoResult:
    """``mongo [db] [--quiet] [-u U -p P --authenticationDatabase D] [--eval JS]``."""
    user = pwd = script = None
    quiet = False
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("-u", "--username") and i + 1 < len(argv):
            user, i = argv[i + 1], i + 2
        elif a in ("-p", "--password") and i + 1 < len(argv):
            pwd, i = argv[i + 1], i + 2
        elif a == "--eval" and i + 1 < len(argv):
            script, i = argv[i + 1], i + 2
        elif a in ("--authenticationDatabase", "--host", "--port") and i + 1 < len(argv):
            i += 2
        elif a == "--quiet":
            quiet, i = True, i + 1
        else:
            i += 1
    banner = "" if quiet else BANNER
    try:
        authenticate(data, user, pwd)
    except MongoError as e:
        return MongoResult(
            banner,
            f"Error: {e} :\nconnect@src/mongo/shell/mongo.js:374:17\nexception: connect failed\nexiting with code 1\n",
            1,
        )
    if script is None:
        return MongoResult(banner, "", 0)
    try:
        return MongoResult(banner + eval_js(data, script, user, auth_required), "", 0)
    except MongoError as e:
        return MongoResult(
            banner,
            f"uncaught exception: Error: {e} :\n_getErrorWithCode@src/mongo/shell/utils.js:25:13\n",
            252 if e.code != 1 else 1,
        )


def register(cluster, apps) -> None:
    """Put ``mongo`` and ``mongosh`` into MongoDB containers of the applications (``kubectl exec``)."""
    from cluster.sim.runtime.shell import ExecContext, ExecResult

    def program(ctx: ExecContext) -> ExecResult:
        found = apps.for_pod(ctx.pod)
        if found is None or found[1].role != "mongodb":
            return ExecResult(
                stderr=b"Error: couldn't connect to server 127.0.0.1:27017, connection attempt failed: "
                b"SocketException: Error connecting to 127.0.0.1:27017 :: caused by :: Connection "
                b"refused\n",
                exit_code=1,
            )
        run, comp = found
        args = [*(ctx.container_spec.get("command") or []), *(ctx.container_spec.get("args") or [])]
        with cluster.lock:
            r = run_mongo(run.mongo_data(comp, ctx.pod), list(ctx.argv), auth_required="--auth" in args)
        return ExecResult(stdout=r.stdout.encode(), stderr=r.stderr.encode(), exit_code=r.code)

    for name in ("mongo", "mongosh"):
        cluster.shell.register(name, program, images=["mongo"])
