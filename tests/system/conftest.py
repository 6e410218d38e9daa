from tests.integration.conftest import broker, settings_for  # noqa: F401  (the same fixtures)
