"""The `dsdeploy` command line: a thin adapter from flags to the library.

The CLI is the only part of the package that prints. Data goes to stdout alone; progress, notes
and errors go to stderr (see :mod:`generator.console`). Library errors arrive as
:class:`GeneratorError` and are turned into a red line, a ``fix:`` line and exit code 2 in one
place (:mod:`generator.cli._app`). The verbs live by domain: :mod:`~generator.cli.project`
(new, variants, render), :mod:`~generator.cli.ship` (check, base-image, build, smoke, podspec,
deploy, doctor) and :mod:`~generator.cli.fleet`.
"""

from generator.cli._app import app

# Importing the verb modules registers their commands, in the order `--help` lists them.
# isort: off
from generator.cli import project  # noqa: F401
from generator.cli import ship  # noqa: F401
from generator.cli import fleet  # noqa: F401
# isort: on

__all__ = ["app"]
