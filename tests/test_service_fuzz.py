"""Fuzz every operation of the OpenAPI spec with schemathesis: zero server errors.

Bounded: a fixed number of examples per operation (about half a minute in all), positive and
negative (schema-violating) data, with a valid key so requests reach the handlers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err

from cinegen.service.settings import Settings
from cinegen.service.testing import ThreadServer, make_key

EXAMPLES_PER_OPERATION = 100  # per operation; both tests together take ~15 s here


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    s = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), max_concurrent_jobs=10_000, seconds_per_day=10**9,
                 requests_per_minute=10**6)
    key = make_key(s, "fuzzer")
    with ThreadServer(s, start_workers=False) as srv:
        yield srv.base_url, key


def fuzz(base: str, key: str, studio: bool) -> tuple[list[str], dict[int, int]]:
    """Fuzz the service's own operations (studio=False) or the studio's mounted ones (True)."""
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    failures: list[str] = []
    statuses: dict[int, int] = {}
    results = list(schema.get_all_operations())
    unreadable = [str(r.err())[:200] for r in results if isinstance(r, Err)]
    assert unreadable == [], unreadable  # every operation's schema resolves (no dangling $ref)
    ops = [op for op in (r.ok() for r in results) if _is_studio(op.path) == studio]
    for op in ops:
        strategy = st.one_of(
            op.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
            op.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
        )

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            r = case.call(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code >= 500:
                failures.append(f"{case.operation.label}: {r.status_code} {r.text[:200]} <- "
                                f"{case.body!r:.200}")
            ctype = r.headers.get("content-type", "")
            ctype = ctype[0] if isinstance(ctype, list) else ctype
            if 400 <= r.status_code < 500 and ctype.startswith("application/json"):
                assert "error" in r.json() and r.json()["error"]["code"], (case.operation.label, r.text)

        run()
    return failures, statuses


def _is_studio(path: str) -> bool:
    return path.startswith(("/v1/studio", "/v1/storyboards", "/studio"))


@pytest.mark.slow
def test_fuzz_service_operations_no_server_errors(live: tuple[str, str]) -> None:
    failures, statuses = fuzz(*live, studio=False)
    print("fuzz responses by status:", dict(sorted(statuses.items())))
    assert sum(statuses.values()) >= 500
    assert sum(n for c, n in statuses.items() if c < 300) >= 20  # many reached the handlers and succeeded
    assert not failures, "\n".join(failures[:10])


@pytest.mark.slow
def test_fuzz_mounted_studio_operations_no_server_errors(live: tuple[str, str]) -> None:
    """The studio's routes share the app and its OpenAPI spec, so they are fuzzed too."""
    failures, statuses = fuzz(*live, studio=True)
    assert statuses, "the studio's routes are missing from the OpenAPI spec (is the studio mounted?)"
    print("studio fuzz responses by status:", dict(sorted(statuses.items())))
    assert not failures, "\n".join(failures[:10])
