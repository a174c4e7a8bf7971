"""A small, honest ``mongo`` shell: the user-administration commands operators run, and the bash scripts
AIOpsLab's MongoDB pods carry (``/scripts/*.sh``), interpreted against the simulated data directory.

Understood: ``db.createUser``, ``db.dropUser``, ``db.grantRolesToUser``, ``db.revokeRolesFromUser``,
``db.getUsers``, ``db.getUser``, ``db.getSiblingDB(...)``, ``show users``, ``db.runCommand({usersInfo: ...})``,
``db.adminCommand({ping: 1})``, with ``-u/-p/--authenticationDatabase``. Anything else answers as the shell
would for an unknown function, rather than pretending.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from cluster.sim.apps.mongo import MongoError, authenticate, create_user, drop_user, grant_roles, revoke_roles, users_doc
from cluster.sim.apps.state import MongoData

BANNER = "MongoDB shell version v4.4.6\nconnecting to: mongodb://127.0.0.1:27017/admin?compressors=disabled&gssapiServiceName=mongodb\nImplicit session: session { \"id\" : UUID(\"5c1f7b36-8e8b-4d5e-9f51-2b8f3f1f2c11\") }\nMongoDB server version: 4.4.6\n"


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
        return MongoResult(banner, f"Error: {e} :\nconnect@src/mongo/shell/mongo.js:374:17\n"
                                   "exception: connect failed\nexiting with code 1\n", 1)
    if script is None:
        return MongoResult(banner, "", 0)
    try:
        return MongoResult(banner + eval_js(data, script, user, auth_required), "", 0)
    except MongoError as e:
        return MongoResult(banner, f"uncaught exception: Error: {e} :\n_getErrorWithCode@src/mongo/shell/utils.js:25:13\n",
                           252 if e.code != 1 else 1)


def run_script(data: MongoData, text: str, auth_required: bool) -> MongoResult:
    """A bash script of VAR=value lines, echo lines and mongo commands (AIOpsLab's /scripts/*.sh)."""
    env: dict[str, str] = {}
    out, err = [], []
    code = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_]\w*)=(.*)$", line)
        if m:
            env[m.group(1)] = shlex.split(m.group(2))[0] if m.group(2) else ""
            continue
        expanded = re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda mm: env.get(mm.group(1), ""), line)
        argv = shlex.split(expanded)
        if not argv:
            continue
        if argv[0] == "echo":
            out.append(" ".join(argv[1:]) + "\n")
        elif argv[0] in ("mongo", "mongosh"):
            r = run_mongo(data, argv, auth_required)
            out.append(r.stdout)
            err.append(r.stderr)
            code = r.code
        else:
            err.append(f"{argv[0]}: command not found\n")
            code = 127
    return MongoResult("".join(out), "".join(err), code)
