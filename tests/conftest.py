"""Shared fixtures. Fixture modules live in tests/support/ and are registered here."""

pytest_plugins: list[str] = [
    "tests.support.smtp",
    "tests.support.db",
]
