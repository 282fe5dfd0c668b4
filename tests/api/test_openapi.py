"""OpenAPI stays true: every route and method in the app is described, and nothing else."""

from __future__ import annotations

import re

import falcon

from tests.support_api import make_api
from wfobj.objstore import MemoryObjectStore

METHODS = ("get", "head", "post", "put", "patch", "delete")


def app_routes(app: falcon.App) -> dict[str, set[str]]:
    """{uri template: methods with a responder} from the app's router itself; a field's
    converter (`{path:path}`) is left out, as OpenAPI names the field alone."""
    found: dict[str, set[str]] = {}
    stack = list(app._router._roots)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.resource is not None:
            template = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", node.uri_template)
            found[template] = {m for m in METHODS if hasattr(node.resource, f"on_{m}")}
    return found


def test_every_route_is_described():
    api = make_api(MemoryObjectStore())
    doc = api.client.simulate_get("/api/openapi.json").json
    routes = app_routes(api.client.app)
    assert len(routes) >= 20
    for template, methods in routes.items():
        assert template in doc["paths"], f"{template} missing from openapi.json"
        assert set(doc["paths"][template]) == methods, template
    assert set(doc["paths"]) == set(routes), "openapi.json describes routes the app lacks"


def test_operations_name_roles_responses_and_path_params():
    api = make_api(MemoryObjectStore())
    doc = api.client.simulate_get("/api/openapi.json").json
    for template, ops in doc["paths"].items():
        names = {seg[1:-1] for seg in template.split("/") if seg.startswith("{")}
        for method, op in ops.items():
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == names, (template, method)
            assert op["responses"] and op["x-wfobj-role"] in (
                "none", "reader", "runner", "admin", "attempt")
            if op["x-wfobj-role"] != "none":
                assert {"401", "403"} <= set(op["responses"])
    refs = {s for s in doc["components"]["schemas"]}
    text = str(doc)
    for ref in refs:
        assert f"#/components/schemas/{ref}" in text or ref == "Error"
