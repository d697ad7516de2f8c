"""The marker rule of tests/conftest.py: a test that uses PostgreSQL or Redis without the
``integration`` mark fails at collection, naming itself, the fixture and the fix, so that
``pytest -m "not integration"`` never needs the services. Checked on a throwaway test folder."""

from __future__ import annotations

import pytest

CONFTEST = """
import pytest
from tests.conftest import pytest_collection_modifyitems, require_integration  # the rule under test

@pytest.fixture
def postgres_url(request):
    require_integration(request)
    return "postgresql://nowhere"
"""


@pytest.fixture
def folder(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # the inner runs need no plugin: faster
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\nmarkers =\n    integration: services\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_marked="import pytest\n\n@pytest.mark.integration\ndef "
        "test_marked(postgres_url):\n    pass\n",
        test_module_marked="import pytest\n\npytestmark = pytest.mark.integration\n\ndef "
        "test_in_marked_module(postgres_url):\n    pass\n",
    )
    return pytester


def test_a_test_that_uses_a_service_without_the_mark_fails_at_collection(
    folder: pytest.Pytester,
) -> None:
    folder.makepyfile(test_unmarked="def test_reads_postgres(postgres_url):\n    pass\n")
    result = folder.runpytest("-m", "not integration")  # the fast loop, which would skip past it
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*tests that use PostgreSQL or Redis but are not marked integration:",
        "*test_unmarked.py::test_reads_postgres (uses postgres_url)",
        "*mark it @pytest.mark.integration*",
    ])  # fmt: skip
    assert "test_marked" not in result.stderr.str(), "only the unmarked test is named"


def test_marked_tests_pass_the_rule_and_the_fast_loop_leaves_them_out(
    folder: pytest.Pytester,
) -> None:
    folder.runpytest("-m", "integration").assert_outcomes(passed=2)
    result = folder.runpytest("-m", "not integration")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED  # both deselected
    result.stdout.fnmatch_lines(["*2 deselected*"])


def test_a_service_asked_for_at_run_time_needs_the_mark_too(folder: pytest.Pytester) -> None:
    # request.getfixturevalue is invisible at collection: the fixture itself checks.
    folder.makepyfile(
        test_late="def test_late(request):\n    request.getfixturevalue('postgres_url')\n"
    )
    result = folder.runpytest("test_late.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*test_late.py::test_late uses postgres_url but is not marked integration*"]
    )


def test_an_unmarked_test_gets_the_short_timeout(request: pytest.FixtureRequest) -> None:
    from tests.conftest import FAST_TIMEOUT_S

    marker = request.node.get_closest_marker("timeout")
    assert marker is not None and marker.args == (FAST_TIMEOUT_S,)
