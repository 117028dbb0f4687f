"""The suite's support, loaded as plugins, one concern each (tests/support/):

- ``tiers``: markers' engines; a test whose engine cannot run here skips with the reason;
- ``rendering``: ``render(answers)``, ``default_project``, the matrix rendered by dependency, the
  ``variant`` parameter;
- ``images``: ``image_of(project)``, one build per digest per run, and the CA bundle's canary;
- ``services``: ``local_service(project)``, ``free_port``, ``wait_ready``;
- ``browser``: headless Chromium with every off-host request refused;
- ``projects``: the generated projects' own runs and the covers that choose them;
- ``swaps``: a user's model change in the places the project's README names;
- ``scheduling``: xdist groups and the longest-first order;
- ``tier_times``: the time-per-tier table that ends every run.
"""

pytest_plugins = [
    "support.tiers",
    "support.rendering",
    "support.images",
    "support.services",
    "support.browser",
    "support.projects",
    "support.swaps",
    "support.scheduling",
    "support.tier_times",
]
