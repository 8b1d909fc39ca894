"""Property-based tests of the serving API from its own OpenAPI schema (schemathesis): whatever a client sends that
the schema allows, or nearly allows, the answer is never a 5xx and, where documented, matches the schema.

Bounded so the suite stays fast and repeatable: a few derandomized examples per operation, no deadline."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from engine.data.synthetic import generate_synthetic
from engine.serving import create_app
from tests.explore_seed import runs_to_serve

MODELS = ("mapper", "itemknn")  # one that serves new users and items, one that refuses them with a reason


@pytest.fixture(scope="module", params=MODELS)
def api_schema(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    with runs_to_serve(tmp_path_factory.mktemp(f"serving-schema-{request.param}") / "home", (request.param,),
                       "cold-item", generate_synthetic(40, 30, 500, seed=7)) as run_ids:
        yield schemathesis.openapi.from_asgi("/openapi.json", create_app(run_ids[request.param]))


def test_no_request_the_schema_describes_gets_a_5xx_or_an_off_schema_answer(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /recommendations/user", "POST /recommendations/new-user", "POST /items", "POST /feedback",
        "GET /items/{item_id}/similar", "POST /items/audience", "POST /admin/swap", "POST /admin/forget"}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=12, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers_within_the_schema(case) -> None:
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

        answers_within_the_schema()
