"""A scripted tour of the simulator with the real kubectl: what ``make demo`` runs until the Observer exists."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console

from cluster.sim.cluster import SimCluster
from cluster.sim.config import SimConfig, wall_epoch
from cluster.sim.server import SimServer

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{name: http, containerPort: 80}]
        readinessProbe: {httpGet: {path: /, port: 80}, initialDelaySeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - name: app
    image: "busybox:1.36"
    command: [sh, -c, "echo connecting to db; sleep 3; echo fatal: db unreachable; exit 1"]
"""

# (what the step shows, kubectl arguments); "{pod}" is the first web pod.
STEPS: list[tuple[str, list[str]]] = [
    ("the cluster's nodes", ["get", "nodes", "-o", "wide"]),
    ("every pod, kube-system included", ["get", "pods", "-A"]),
    ("deploy an app, a service and a crashing pod", ["apply", "-f", "{manifest}"]),
    ("wait for the rollout", ["rollout", "status", "deployment/web", "--timeout=60s"]),
    ("pods and endpoints", ["get", "pods,endpoints", "-o", "wide"]),
    ("describe a web pod", ["describe", "pod", "{pod}"]),
    ("its logs", ["logs", "{pod}", "--tail=5"]),
    ("scale to 4", ["scale", "deployment/web", "--replicas=4"]),
    ("rolling restart", ["rollout", "restart", "deployment/web"]),
    ("wait for it", ["rollout", "status", "deployment/web", "--timeout=60s"]),
    ("replica sets after the restart", ["get", "rs", "-l", "app=web"]),
    ("the crashing pod, some restarts later", ["get", "pod", "crasher"]),
    ("its previous run's logs", ["logs", "crasher", "--previous"]),
    ("warning events", ["get", "events", "--field-selector", "type=Warning"]),
]


def run_tour(speed: float = 1.0, console: Console | None = None) -> int:
    console = console or Console(soft_wrap=True)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        console.print("[red]kubectl is not on PATH[/red]: install kubectl (v1.27-1.33) to take the tour")
        return 2
    with tempfile.TemporaryDirectory(prefix="aoi-tour-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        manifest = Path(tmp) / "web.yaml"
        manifest.write_text(MANIFEST)
        cluster = SimCluster(SimConfig(seed=0, epoch=wall_epoch(30)))
        cluster.advance(30)
        cluster.go_realtime(speed)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": tmp}
        with SimServer(cluster, kubeconfig=kubeconfig) as server:
            console.print(f"[bold]simulated cluster[/bold] at {server.url} ({speed:g}x real time); "
                          f"KUBECONFIG={kubeconfig}")
            pod = ""
            for title, args in STEPS:
                if title.startswith("the crashing pod"):
                    time.sleep(8 / speed)  # let it crash a few more times
                argv = [a.replace("{manifest}", str(manifest)).replace("{pod}", pod) for a in args]
                console.rule(f"[cyan]{title}[/cyan]")
                console.print(f"$ kubectl {' '.join(argv)}", style="bold")
                proc = subprocess.run([kubectl, *argv], capture_output=True, text=True, env=env, timeout=120)
                console.print(proc.stdout.rstrip(), markup=False, highlight=False)
                if proc.returncode != 0:
                    console.print(proc.stderr.rstrip(), style="red", markup=False)
                    return 1
                if not pod and title.startswith("wait for the rollout"):
                    pod = subprocess.run([kubectl, "get", "pods", "-l", "app=web", "-o",
                                          "jsonpath={.items[0].metadata.name}"], capture_output=True, text=True,
                                         env=env).stdout.strip()
        console.rule("[green]tour complete; simulator stopped[/green]")
    return 0
