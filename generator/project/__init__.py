"""The project room: variants from copier.yml, rendering, fingerprints and the fleet."""
