"""MongoDB user administration on the simulated data directories: what the mongo shell's user commands do.

Shared by the ``mongo`` program of ``kubectl exec`` and by the fault injectors, which run the same scripts
AIOpsLab runs (revoke a role, drop a user) so that a fault and its repair go through one code path.
"""

from __future__ import annotations

from cluster.sim.apps.state import MongoData


class MongoError(Exception):
    """An error as the mongo shell prints it (``uncaught exception: Error: ...``)."""

    def __init__(self, message: str, code: int = 11):
        super().__init__(message)
        self.code = code


def create_user(data: MongoData, user: str, pwd: str, roles: list[tuple[str, str]]) -> None:
    if user in data.users:
        raise MongoError(f'couldn\'t add user: User "{user}@admin" already exists', 51003)
    data.users[user] = {"pwd": pwd, "roles": [[r, d] for r, d in roles]}


def drop_user(data: MongoData, user: str) -> bool:
    return data.users.pop(user, None) is not None


def grant_roles(data: MongoData, user: str, roles: list[tuple[str, str]]) -> None:
    u = data.users.get(user)
    if u is None:
        raise MongoError(f'Could not find user "{user}" for db "admin"', 11)
    for r, d in roles:
        if [r, d] not in u["roles"]:
            u["roles"].append([r, d])


def revoke_roles(data: MongoData, user: str, roles: list[tuple[str, str]]) -> None:
    u = data.users.get(user)
    if u is None:
        raise MongoError(f'Could not find user "{user}" for db "admin"', 11)
    u["roles"] = [x for x in u["roles"] if (x[0], x[1]) not in {(r, d) for r, d in roles}]


def authenticate(data: MongoData, user: str | None, pwd: str | None) -> None:
    if user is None:
        return
    u = data.users.get(user)
    if u is None or u["pwd"] != pwd:
        raise MongoError("Authentication failed.", 18)


def users_doc(data: MongoData, db: str = "admin") -> list[dict]:
    return [
        {
            "_id": f"admin.{name}",
            "userId": {"$binary": "...", "$type": "04"},
            "user": name,
            "db": "admin",
            "roles": [{"role": r, "db": d} for r, d in u["roles"]],
            "mechanisms": ["SCRAM-SHA-1", "SCRAM-SHA-256"],
        }
        for name, u in sorted(data.users.items())
    ]
