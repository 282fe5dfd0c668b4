"""Schemathesis hooks for tests/e2e/test_schemathesis.py (loaded via its config file).

CAR packs (POST /api/sync/packs) and tar archives (POST /api/trees) are bytes on the wire
like application/octet-stream."""

import schemathesis

schemathesis.serializer.alias("application/vnd.ipld.car", "application/octet-stream")
schemathesis.serializer.alias("application/x-tar", "application/octet-stream")
