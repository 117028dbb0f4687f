"""The pod-spec smoke: the container a project's chart describes, run with Docker as a kubelet would."""
