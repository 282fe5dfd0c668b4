"""Process supervision: the supervisor of `serve` and `worker`, signal and
parent-death handling (lifeline) and gunicorn's hooks and worker classes.
"""
