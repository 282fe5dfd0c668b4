"""The HTTP clients of the command line: one session and error type (http), the
Service over HTTP (service), sync's and `wfobj exec`'s endpoints.
"""
