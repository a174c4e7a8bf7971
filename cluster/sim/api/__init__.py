"""The simulator's HTTP face: the Kubernetes REST API, served with Starlette (see ``app.build_app``)."""
