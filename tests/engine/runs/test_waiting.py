from wfobj.engine.runs.waiting import poll_run


def _runs(*states):
    seq = [{"state": s, "tasks": t} for s, t in states]
    calls = iter(seq)
    return lambda: next(calls)


def test_poll_reports_each_change_once_and_returns_terminal_run():
    get_run = _runs(
        ("pending", {"a": "pending"}),
        ("pending", {"a": "pending"}),
        ("running", {"a": "running"}),
        ("running", {"a": "running"}),
        ("success", {"a": "success"}),
    )
    seen, sleeps = [], []
    final = poll_run(get_run, sleeps.append, poll=0.5, on_progress=seen.append)
    assert final["state"] == "success"
    assert [r["state"] for r in seen] == ["pending", "running", "success"]
    assert sleeps == [0.5] * 4


def test_poll_stops_at_timeout_with_the_last_run():
    get_run = lambda: {"state": "running", "tasks": {}}  # noqa: E731
    sleeps = []
    final = poll_run(get_run, sleeps.append, poll=1.0, timeout=3.0)
    assert final["state"] == "running"
    assert len(sleeps) == 3


def test_state_changes_lists_each_task_move_then_the_run():
    from wfobj.engine.runs.waiting import StateChange, state_changes

    first = {"state": "running", "tasks": {"a": "running", "b": "pending"}}
    assert state_changes(None, first) == [StateChange(None, None, "running"),
                                          StateChange("a", None, "running")]
    later = {"state": "failed", "tasks": {"a": "failed", "b": "skipped"}}
    assert state_changes(first, later) == [StateChange("a", "running", "failed"),
                                           StateChange("b", "pending", "skipped"),
                                           StateChange(None, "running", "failed")]
    assert state_changes(later, later) == []
    queued = {"state": "pending", "tasks": {"a": "pending", "b": "pending"}}
    assert state_changes(queued, first) == [StateChange(None, "pending", "running"),
                                            StateChange("a", "pending", "running")]
