"""dsdeploy: render, check, build and deploy every variant of the dsdeploy Copier template."""

from generator.errors import GeneratorError

__all__ = ["GeneratorError"]
__version__ = "0.1.0"
