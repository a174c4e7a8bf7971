"""AOI: safe, trainable AI site-reliability agents for Kubernetes."""

__version__ = "0.1.0"
