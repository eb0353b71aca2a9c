"""schemathesis over the OpenAPI schema, against a real server, as the owner.

The owner is the console token (a bearer credential from loopback), so generated requests can
reach every route without ending the session they use. Checked for every generated request: no
server error, only documented statuses, bodies (the one error shape included) and content types
as documented, and invalid input refused with a 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.errors import SchemathesisError

from tests.harness import ServerProcess

CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    status_code_conformance,
]

MAX_EXAMPLES = 15  # per operation: about 30 operations stay well under a minute


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        Path(tmp_path_factory.mktemp("fuzz")), env={"TETHER_AUTH_ATTEMPTS_PER_MINUTE": "100000"}
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_api_holds_its_schema(server: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/api/schema/openapi.json")
    failures: dict[str, str] = {}
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            derandomize=True,
            database=None,
        )
        def holds(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(
                base_url=server.url,
                headers=server.auth_headers(),
                checks=CHECKS,
                timeout=20,
            )

        try:
            holds()
        except (  # every operation's failure is reported, not just the first
            AssertionError,  # a check failed (schemathesis' Failure)
            BaseExceptionGroup,  # several did (FailureGroup), or hypothesis found several
            OSError,  # the request failed (requests' errors)
            SchemathesisError,
            hypothesis.errors.HypothesisException,
        ) as exc:
            failures[operation.label] = str(exc)[:2000]
    assert calls >= 5 * len(operations)  # the fuzzing really ran
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
