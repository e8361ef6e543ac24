"""Batch simulations (sweeps on Dask) and sensitivity analysis (SALib)."""
