"""Executors: where the work of action steps runs (this process, or a Dask cluster)."""
