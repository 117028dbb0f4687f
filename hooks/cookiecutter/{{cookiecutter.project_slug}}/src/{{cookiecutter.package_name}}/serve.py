"""``python -m <package>.serve``: start the inference service (see ``serving.service``).

Owned by the template: a stable entry point for the Dockerfile, the chart and the Makefile.
"""

from .serving.service import main

if __name__ == "__main__":
    main()
