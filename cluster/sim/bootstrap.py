"""What a fresh kind cluster has before anyone deploys anything: nodes, system namespaces, kube-system's
pods, the ``kubernetes`` Service and the default StorageClass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cluster.sim.config import NodeSpec

if TYPE_CHECKING:
    from cluster.sim.cluster import SimCluster

SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system", "local-path-storage")
API_SERVER_IP = "172.18.0.2"


def node_object(spec: NodeSpec, index: int, version: str, now: str) -> dict:
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux"}
    if spec.control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
    labels.update(spec.labels)
    ip = f"172.18.0.{index + 2}"
    cond = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    capacity = {"cpu": spec.cpu, "ephemeral-storage": "102625208Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                "memory": spec.memory, "pods": str(spec.pods)}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels, "annotations": {
            "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
            "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"],
                 "providerID": f"kind://docker/kind/{spec.name}",
                 **({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}
                    if spec.control_plane else {})},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": spec.name}],
            "allocatable": dict(capacity), "capacity": capacity,
            "conditions": [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": now,
                            "lastTransitionTime": now} for t, s, r, m in cond],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "bootID": f"boot-{index}", "containerRuntimeVersion":
                         "containerd://2.0.2", "kernelVersion": "6.8.0-sim", "kubeProxyVersion": version,
                         "kubeletVersion": version, "machineID": f"machine-{index}", "operatingSystem": "linux",
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": f"uuid-{index}"},
        },
    }


def _container(name: str, image: str, **kw: object) -> dict:
    c: dict = {"name": name, "image": image}
    c.update(kw)
    return c


def bootstrap(c: SimCluster) -> None:
    api = c.api
    now = c.clock.rfc3339()
    version = c.config.kubernetes_version
    for ns in SYSTEM_NAMESPACES:
        api.system_create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    c.settle()
    for i, spec in enumerate(c.config.nodes):
        api.system_create("nodes", node_object(spec, i, version, now))
        api.system_create("leases.coordination.k8s.io", {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": spec.name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": spec.name, "leaseDurationSeconds": 40}})
    api.system_create("storageclasses.storage.k8s.io", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
    for name, value in (("system-cluster-critical", 2000000000), ("system-node-critical", 2000001000)):
        api.system_create("priorityclasses.scheduling.k8s.io", {
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, "description": "Used for system critical pods that must run in the cluster, but can be "
            "moved to another node if necessary.", "preemptionPolicy": "PreemptLowerPriority"})
    svc = api.system_create("services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                 "clusterIP": "10.96.0.1", "type": "ClusterIP"}})
    c.service_ips.used.add(svc["spec"]["clusterIP"])
    api.system_create("endpoints", {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": API_SERVER_IP}],
                     "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]})
    if c.config.system_pods:
        _system_pods(c, version)


def _system_pods(c: SimCluster, version: str) -> None:
    api = c.api
    cp = next((n for n in c.config.nodes if n.control_plane), c.config.nodes[0])
    for comp, image in (("etcd", "registry.k8s.io/etcd:3.5.16-0"),
                         ("kube-apiserver", f"registry.k8s.io/kube-apiserver:{version}"),
                         ("kube-controller-manager", f"registry.k8s.io/kube-controller-manager:{version}"),
                         ("kube-scheduler", f"registry.k8s.io/kube-scheduler:{version}")):
        node = c.store.get("nodes", "", cp.name)
        assert node is not None
        api.system_create("pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{comp}-{cp.name}", "namespace": "kube-system",
                         "labels": {"component": comp, "tier": "control-plane"},
                         "annotations": {"kubernetes.io/config.source": "file"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": cp.name,
                                              "uid": node["metadata"]["uid"], "controller": True}]},
            "spec": {"nodeName": cp.name, "hostNetwork": True, "priorityClassName": "system-node-critical",
                     "priority": 2000001000, "containers": [_container(comp, image, command=[comp])],
                     "tolerations": [{"operator": "Exists", "effect": "NoExecute"}]},
        })
    coredns_tpl = {
        "metadata": {"labels": {"k8s-app": "kube-dns"}},
        "spec": {"priorityClassName": "system-cluster-critical", "serviceAccountName": "coredns",
                 "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                 {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                 "containers": [_container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3",
                                           args=["-conf", "/etc/coredns/Corefile"],
                                           ports=[{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                                  {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                                  {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}],
                                           resources={"limits": {"memory": "170Mi"},
                                                      "requests": {"cpu": "100m", "memory": "70Mi"}},
                                           readinessProbe={"httpGet": {"path": "/ready", "port": 8181}})]},
    }
    api.system_create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                          "metadata": {"name": "coredns", "namespace": "kube-system"}})
    api.system_create("deployments.apps", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}, "template": coredns_tpl}})
    api.system_create("services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
                     "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
        "spec": {"selector": {"k8s-app": "kube-dns"}, "clusterIP": "10.96.0.10",
                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                           {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}})
    c.service_ips.used.add("10.96.0.10")
    for name, image, labels in (("kube-proxy", f"registry.k8s.io/kube-proxy:{version}", {"k8s-app": "kube-proxy"}),
                                ("kindnet", "docker.io/kindest/kindnetd:v20241212-9f82dd49", {"app": "kindnet"})):
        api.system_create("daemonsets.apps", {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"hostNetwork": True, "priorityClassName": "system-node-critical",
                         "tolerations": [{"operator": "Exists"}],
                         "containers": [_container(name, image, command=[name if name != "kindnet" else
                                                                         "/bin/kindnetd"])]}}}})
    api.system_create("deployments.apps", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "local-path-provisioner", "namespace": "local-path-storage"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "local-path-provisioner"}}, "template": {
            "metadata": {"labels": {"app": "local-path-provisioner"}},
            "spec": {"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                     "containers": [_container("local-path-provisioner",
                                               "docker.io/kindest/local-path-provisioner:v20241212-8ac705d0",
                                               command=["local-path-provisioner"])]}}}})
