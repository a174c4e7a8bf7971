"""The AIOpsLab applications, modelled as data and deployed as real Kubernetes objects in the simulator."""

from cluster.sim.apps.astronomy import ASTRONOMY
from cluster.sim.apps.hotel import HOTEL
from cluster.sim.apps.model import AppModel
from cluster.sim.apps.social import SOCIAL

APPS: dict[str, AppModel] = {a.name: a for a in (HOTEL, SOCIAL, ASTRONOMY)}

__all__ = ["APPS", "ASTRONOMY", "HOTEL", "SOCIAL", "AppModel"]
