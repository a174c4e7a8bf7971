"""Telemetry the simulator serves: a Prometheus HTTP API subset, a Jaeger query API subset, metrics.k8s.io.

Everything is computed on demand from the cluster's state history, the clock and the seed; ``sources.py``
holds the interfaces between the generators (what the applications emit) and the HTTP APIs (how it is read).
"""
