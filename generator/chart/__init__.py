"""The chart room: Helm, Kubernetes schemas, CRDs and security scans of charts and Dockerfiles."""
