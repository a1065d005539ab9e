"""The OpenAPI document is valid and describes every API route."""
from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_complete(app, client):
    document = client.get("/api/v1/openapi.json").json
    validate(document)
    documented = {(path, method) for path, item in document["paths"].items() for method in item
                  if method in ("get", "post", "put", "delete", "patch")}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        path = re.sub(r"\{(?:task|plan|instance|appeal)_id\}", "{id}", path)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {rule.rule} is not in openapi.yaml"
