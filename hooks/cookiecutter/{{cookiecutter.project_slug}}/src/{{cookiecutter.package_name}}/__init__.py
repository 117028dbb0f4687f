{% set project_slug = cookiecutter.project_slug %}"""The model package: training, the model artifact and the inference service."""

from importlib.metadata import PackageNotFoundError, version

#: The project's slug, fixed when the project was generated: the distribution name and the
#: service's default model name (the URL segment of the v2 routes).
PROJECT_SLUG = "{{ project_slug }}"

try:
    __version__ = version(PROJECT_SLUG)
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"
