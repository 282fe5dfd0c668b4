"""`optional: true` params (docs/workflow-format.md "Params"): left out at trigger they have
no value; a native reference to one is refused at registration naming the place, since
there would be nothing to substitute, mount, fan out over or test."""

from __future__ import annotations

import pytest

from tests.support_engine import service, wordcount
from wfobj.engine.definitions.format import normalize
from wfobj.engine.errors import DefinitionError
from wfobj.objstore import MemoryObjectStore


def with_optional(mutate=None) -> dict:
    d = wordcount()
    d["params"]["note"] = {"type": "string", "optional": True}
    d["params"]["extra"] = {"type": "file", "optional": True}
    if mutate is not None:
        mutate(d)
    return d


def test_an_optional_param_is_stored_only_when_true_and_left_out_at_trigger():
    stored = normalize(with_optional(), "wordcount")
    assert stored.params["note"].to_value() == {"type": "string", "optional": True}
    plain = wordcount()
    plain["params"]["note"] = {"type": "string", "optional": False}
    assert normalize(plain, "wordcount").params["note"].to_value() == {"type": "string"}
    store = MemoryObjectStore()
    svc = service(store)
    svc.apply_workflow("wordcount", with_optional(), user="alice")
    corpus = store.put_blob(b"a few words\n")
    run = svc.trigger(name="wordcount", parameters={"corpus": corpus}, user="alice")
    assert svc.get_run(run["run_id"])["parameters"] == {"corpus": corpus, "min_len": 3}
    given = svc.trigger(name="wordcount", parameters={"corpus": corpus, "note": "hi"},
                        user="alice")
    assert svc.get_run(given["run_id"])["parameters"]["note"] == "hi"


@pytest.mark.parametrize(("mutate", "place", "words"), [
    (lambda d: d["params"]["note"].update(optional="yes"), "params.note.optional",
     "not true or false"),
    (lambda d: d["params"]["note"].update(default="x"), "params.note.optional",
     "needs no optional"),
    (lambda d: d["tasks"]["split"]["command"].append("{{params.note}}"),
     "tasks.split.command[3]", "param note is optional"),
    (lambda d: d["tasks"]["count"]["env"].update(NOTE="{{ params.note }}"),
     "tasks.count.env.NOTE", "param note is optional"),
    (lambda d: d["tasks"]["split"]["inputs"].update(extra={"param": "extra"}),
     "tasks.split.inputs.extra", "param extra is optional"),
    (lambda d: d["tasks"]["count"].update(when="params.note == 'x'"), "tasks.count.when",
     "param note is optional"),
])
def test_a_native_reference_to_an_optional_param_is_refused(mutate, place, words):
    with pytest.raises(DefinitionError) as err:
        normalize(with_optional(mutate), "wordcount")
    assert err.value.place == place and words in str(err.value), str(err.value)


def test_fanning_out_over_an_optional_param_is_refused():
    def fan(d):
        d["params"]["names"] = {"type": "list", "optional": True}
        d["tasks"]["count"]["for_each"] = {"param": "names"}
    with pytest.raises(DefinitionError) as err:
        normalize(with_optional(fan), "wordcount")
    assert err.value.place == "tasks.count.for_each" and "optional" in str(err.value)
