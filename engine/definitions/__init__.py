"""Definitions: the workflow format (parse, check, normalize), the task graph,
parameters, documents and the workflow registry (versions under `workflows/`).
"""
