"""The container room: the v2 client, smoke, pod-spec smoke and Dask on containers."""
