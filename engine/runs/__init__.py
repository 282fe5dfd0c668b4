"""Runs: a run's state (manifest, tasks, audit), its lifecycle (create, end, kill),
ids, evidence records, waiting, resume and reproduce origins.
"""
