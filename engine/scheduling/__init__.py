"""Scheduling: the scheduler that drives one run, the worker that claims runs under
leases, rendering of task templates and the task cache policy.
"""
