"""The cluster room: kind, the Kubernetes client and deploys."""
