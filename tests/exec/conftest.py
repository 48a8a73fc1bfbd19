import pytest

from rtaid.infra.log import reset_logging, setup_logging


@pytest.fixture(autouse=True)
def _logs_in_the_report():
    """The daemon's log lines in each test's captured output (a failure shows them)."""
    setup_logging("INFO", "console")
    yield
    reset_logging()
