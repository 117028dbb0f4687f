"""The image room: builds, base images and image references."""
