"""The engine wing: how dsdeploy talks to Docker or Podman (client, hardened runs, image store)."""
