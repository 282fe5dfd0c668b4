"""Executors: where an attempt runs. The seam (base), the local Docker executor,
the Slurm executor and its node side, staging, capture, caps and settings.
"""
