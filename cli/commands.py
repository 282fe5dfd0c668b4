"""The command table: every top-level `wfobj` command, the cli modules that make it and
its one-line help, so that a command imports only its own modules (click's lazy-loading
pattern) and `wfobj --help` lists every command without importing any of them.

A module makes its commands in `register(group)` (which adds them all to the group);
`run`'s verbs come from two modules, so its row names both. The summaries are the first
sentence of each command's help: tests/cli/test_command_table.py checks that the table
and the modules agree, and that `wfobj --help` reads the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """A top-level command: the cli modules whose `register` makes it, its one-line help."""

    modules: tuple[str, ...]
    summary: str


def _rows(modules: tuple[str, ...], **summaries: str) -> dict[str, Entry]:
    return {name.replace("_", "-"): Entry(modules, text) for name, text in summaries.items()}


COMMANDS: dict[str, Entry] = {
    **_rows(
        ("objects",),
        init="Create a store at PATH (default: --store / WFOBJ_STORE).",
        put="Store FILE… as blobs (streamed; `-` reads stdin) and DIR… as trees, and print "
            "their hashes: in --store, or with --server sent to the server.",
        cat="Write the exact bytes whose BLAKE3 is HASH (verified) to stdout; HASH:PATH, the "
            "file at PATH inside tree HASH (also over --server).",
        show="Show a structured object as JSON (links as hashes); a blob is described.",
        type="Print the type of HASH: blob, or a structured object's type.",
        ls="List every object: hash, type, size.",
        refs="List every ref: hash and name.",
        log="Follow REF's object and its `previous` links, newest first (REF: a ref, a "
            "workflow name without `workflows/`, or a hash prefix).",
        walk="Print the object graph below HASH as an indented tree (shared parts shown once).",
        fsck="Verify every object, link and ref; exit 1 naming each damaged hash.",
        gc="Remove objects that no ref and no run in progress reaches and that are older "
           "than the grace period; print what was freed.",
    ),
    **_rows(
        ("trees",),
        ls_tree="List the entries of tree HASH: kind (dir, file, exec), size, hash, name.",
        checkout="Write tree HASH into DIR (new, or empty): every file verified against its "
                 "hash before it gets its name, executable bits restored.",
    ),
    **_rows(("workflows",), workflow="Register and inspect workflow definitions."),
    **_rows(("runs", "history"), run="Trigger, inspect and kill runs."),
    **_rows(
        ("runs",),
        worker="Engine workers alone: claim pending runs on --store and execute them "
               "(--executor).",
    ),
    **_rows(
        ("history",),
        file="Every run that produced HASH, used it as an input, or took it as a parameter.",
        lineage="The lineage of file HASH across every run in the store.",
        reindex="Rebuild the run list, task cache and file indexes of --store from its runs.",
    ),
    **_rows(
        ("exports",),
        export="Write RUN as FORMAT: ro-crate, prov, openlineage or in-toto (docs/exports.md).",
        verify="Check a signed in-toto export: the signature and, with a --store or --server, "
               "every subject's digests against the files' bytes.",
        keys="The public keys signed exports verify with (the --store's own, or the "
             "--server's).",
    ),
    **_rows(("serving",), serve="Serve the REST API and run workflows on the --store."),
    **_rows(("tokens",),
            token="Manage API tokens (stored only as hashes; a token is shown once)."),
    **_rows(
        ("sync",),
        push="Send REFS (default: all) and the objects they need to REMOTE (URL or store path).",
        pull="Fetch REFS (default: all) and the objects they need from REMOTE (URL or store "
             "path).",
    ),
    **_rows(
        ("attempt_exec",),
        exec="Fetch, run and report the attempt SPEC_HASH (needs --server, --token and "
             "--store).",
    ),
    **_rows(("hooks",),
            hook="Webhooks: run events POSTed as signed CloudEvents to URLs (admin)."),
    **_rows(
        ("schedules",),
        schedule="Start runs of a workflow on a cron schedule (admin on a server).",
        tag="Point the data ref data/NAME at a file (blob) or directory (tree), by "
            "compare-and-swap; workflows subscribed with trigger-on start runs on new content.",
        data="Data refs (data/NAME): named inputs that trigger runs when they move.",
        trigger_on="Run WORKFLOW with PARAM = the new hash each time data/NAME moves to "
                   "content its definition never ran on (admin on a server).",
        triggers="Data-trigger subscriptions made with trigger-on.",
    ),
    **_rows(("secrets",), secret="Manage secrets tasks use (values go in, never come out)."),
    **_rows(("cwl",),
            cwl="Run Common Workflow Language (CWL v1.2) documents through the engine."),
}


def modules() -> list[str]:
    """Every cli module the table names, each once, in table order."""
    return list(dict.fromkeys(m for entry in COMMANDS.values() for m in entry.modules))
