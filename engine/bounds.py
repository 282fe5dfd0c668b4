"""The bounds on what one request, definition or trigger can make the server hold.

Each is documented in docs/limits.md; the checks live with the concept they bound
(documents.py, definition.py, tasks.py), the numbers live here.
"""

from __future__ import annotations

MAX_DEFINITION_BYTES = 1 << 20  # a normalized definition, as canonical CBOR
MAX_RENDERED_BYTES = 256 << 10  # one attempt's command items plus env (NAME=value)
MAX_DOCUMENT_DEPTH = 64  # nesting of lists and mappings in a JSON or YAML body
MAX_TIMEOUT_S = 366 * 24 * 3600  # a task's `timeout`
MIN_CPUS, MAX_CPUS = 0.01, 1024  # a task's `resources.cpus`
EXCERPT_CHARS = 80  # the most of a refused value an error message quotes
MAX_DESCRIPTION_CHARS = 1000  # the longest error description the API sends
MAX_CONDITION_CHARS = 2000  # a task's `when` expression
MAX_RETRY_DELAY_S = 24 * 3600  # a task's `retry.delay` and `retry.max_delay`
MAX_RETRY_FACTOR = 100  # a task's `retry.backoff`, `memory_factor`, `cpus_factor`
MAX_GROWN_MEMORY = 1 << 40  # memory grown by `retry.memory_factor` without `max_memory`
MAX_CONDITION_DEPTH = 32  # nesting of `not`, parentheses in a `when` expression
