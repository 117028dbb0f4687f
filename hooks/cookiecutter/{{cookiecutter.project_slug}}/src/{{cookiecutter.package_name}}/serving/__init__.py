"""The inference service: HTTP routes, request checks, batching, metrics and settings.

Owned by the template: extend through ``model.py`` and ``train.py``. ``copier update`` brings
improvements to every module here, so edits made in this folder become merge conflicts.
"""
