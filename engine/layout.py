"""The store layout: every ref prefix, meta namespace and file the engine keeps beside its
objects, declared here once. Writers, readers, gc and reindex all take the names from here.

Objects (content-addressed, immutable) are reached from refs; meta entries are mutable
keyed bytes (objstore `meta_*`), either derived indexes that reindex can rebuild from the
objects, or state of work in progress that gc must treat as roots.
"""

from __future__ import annotations

# --- refs (objects reachable from them are kept by gc and carried by sync) -------------
RUN_PREFIX = "runs/"  # runs/<run_id> -> the run's newest manifest
REF_PREFIX = "workflows/"  # workflows/<name> -> the newest workflow version
DATA_PREFIX = "data/"  # data/<name> -> a blob or a tree: an input that triggers runs when moved

# --- derived indexes (rebuilt by `reindex` from the objects) ---------------------------
INDEX_NS = "runs"  # run_id -> the run's list entry (workflow, state, times)
STATE_NS = "runs-by-state"  # "<state>/<run_id>" -> "" : runs listed by state
STATE_INDEX_MARK = ("index-version", STATE_NS)  # set once the by-state index is complete
COUNTERS_NS = "counters"  # runs and attempts counted by state (GET /metrics)
OUT_NS = "file-out"  # lineage: file hash -> the attempts that wrote it
IN_NS = "file-in"  # lineage: file hash -> the attempts that read it
PARAM_NS = "file-param"  # lineage: file hash -> the runs that took it as a parameter
TREE_NS = "file-tree"  # lineage: "<entry hash>/<tree>/<name>" -> "": which trees hold a file
TREE_DONE_NS = "tree-indexed"  # tree hash -> "": its entries (and its subtrees') are indexed
CACHE_NS = "cache"  # cache key hash -> evidence of the attempt that made it
TASK_NS = "cache-task"  # "<workflow>/<task>/<run_id>" -> a task's evidence, for explain

# --- work in progress (roots for gc, never rebuilt) ------------------------------------
QUEUE_NS = "queue"  # run_id -> b"1" while the run waits for a worker
KILL_NS = "kill"  # run_id -> who asked to kill the run, until a worker ends it
LEASE_NS = "lease"  # run_id -> the worker driving it and until when
ATTEMPT_TOKENS_NS = "attempt_tokens"  # token digest -> an attempt out on another node
ATTEMPT_UPLOADS_NS = "attempt_uploads"  # "<spec>/" -> {"objects", "bytes"} sent; "<spec>/<id>" -> ""
REPORTS_NS = "attempt_reports"  # spec id -> report id, written once when the report arrives
JOBS_NS = "slurm_jobs"  # "<run_id>/<task>/<attempt>" -> {"job_id", "spec", "token"}

# --- schedules and data triggers (store-local standing orders: never synced) -----------
SCHEDULES_NS = "schedules"  # name -> the newest schedule_version (a gc root; chain = audit)
SCHEDULE_SLOTS_NS = "schedule-slots"  # name -> the last slot handled (JSON), moved by CAS
TRIGGERS_NS = "data-triggers"  # "<workflow>/<param>/<data ref>" -> subscription (JSON)
TRIGGER_SEEN_NS = "data-seen"  # "<definition>/<param>/<hash>" -> the run that content started

# --- access ----------------------------------------------------------------------------
TOKENS_NS = "tokens"  # SHA-256 of an API token -> its user, role and id
SESSIONS_NS = "ui-sessions"  # SHA-256 of a web session secret -> its user and expiry

# --- webhooks (engine/webhooks/): config, the outbox (work in progress), the delivery log ---
HOOKS_NS = "hooks"  # hook id -> {"url", "events", "secret_name", "created_by", "created_at"}
HOOK_CHANGES_NS = "hook-changes"  # "<at>/<hook id>" -> who added or removed a hook: old, new
OUTBOX_NS = "hook-outbox"  # "<run_id>/<seq>/<hook id>" -> an event not yet delivered, its lease
DELIVERIES_NS = "hook-deliveries"  # same key -> how its delivery ended (status, tries, error)

# --- files in the store folder, beside data.mdb ----------------------------------------
LIVE_DIR = "live-logs"  # spools of running attempts' stdout and stderr
KEY_FILE = "signing-key.pem"  # the ed25519 key of in-toto exports (mode 0600)
SECRETS_KEY_FILE = "secrets-key"  # the secret store's AEAD and fingerprint keys (mode 0600)
SECRETS_FILE = "secrets.enc"  # the secrets, one AEAD-sealed document (mode 0600)
SECRETS_LOCK = "secrets.lock"  # writers of SECRETS_FILE take this file's lock
