import pytest


@pytest.fixture(autouse=True)
def _delivery_files_in_tmp(settings, tmp_path):
    # Batch CSVs written by the tests stay out of the project's var/ folder.
    settings.DELIVERY_ROOT = tmp_path / "deliveries"
