"""The OpenAPI document types every success response, so a client generated from it is typed end to end."""

import yaml
from django.core.management import call_command


def _schema_generate(tmp_path) -> dict:
    out = tmp_path / "schema.yaml"
    # --fail-on-warn: any warning of drf-spectacular (an unguessable field, an untyped method) fails the command.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return yaml.safe_load(out.read_text())


def _untyped_objects(node, components, path, seen) -> list[str]:
    """Paths of object schemas with no declared properties (free-form dicts) reachable from `node`."""
    if isinstance(node, list):
        return [
            found for i, item in enumerate(node) for found in _untyped_objects(item, components, f"{path}[{i}]", seen)
        ]
    if not isinstance(node, dict):
        return []
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _untyped_objects(components[name], components, name, seen)
    found = []
    if node.get("type") == "object" and not node.get("properties") and not node.get("oneOf"):
        found.append(path)
    for key, value in node.items():
        found += _untyped_objects(value, components, f"{path}.{key}", seen)
    return found


def test_schema_generates_without_warnings_and_types_every_success_response(tmp_path):
    schema = _schema_generate(tmp_path)
    components = schema["components"]["schemas"]
    untyped, missing = [], []
    for route, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                content = response.get("content", {}).get("application/json")
                if content is None:
                    missing.append(f"{method.upper()} {route} {code}")
                    continue
                untyped += _untyped_objects(content["schema"], components, f"{method.upper()} {route} {code}", set())
    assert missing == []
    assert untyped == []


def test_schema_names_the_shapes_shared_with_the_pushes(tmp_path):
    components = _schema_generate(tmp_path)["components"]["schemas"]
    shared = ["RideRequest", "Match", "Proposal", "MatchOutcome", "RideOutput", "EventPage", "EventMessage"]
    assert [name for name in shared if name not in components] == []
    assert sorted(components["EventMessage"]["discriminator"]["mapping"]) == [
        "beacon.updated",
        "chat.message",
        "chat.receipt",
        "match.accepted",
        "match.cancelled",
        "match.confirmed",
        "match.expired",
        "match.proposal",
        "request.updated",
        "ride.driver_arrived",
        "ride.updated",
    ]
