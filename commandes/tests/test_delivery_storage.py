"""Where the batch CSVs live in the production shape (§10: each batch is stored and can be
re-sent or downloaded)."""

from pathlib import Path

import yaml
from django.conf import settings


def _compose() -> dict:
    return yaml.safe_load((Path(settings.BASE_DIR) / "docker-compose.yml").read_text(encoding="utf-8"))


def test_the_worker_that_writes_a_batch_csv_and_the_web_server_that_serves_it_share_a_kept_volume():
    """The worker writes the CSV of each batch it sends; the Livraisons page (web) downloads
    and re-sends it. Left in each container's own var/, the web server never saw a file and
    every redeploy lost them all."""
    compose = _compose()
    mounts = {}
    for service in ("web", "worker"):
        config = compose["services"][service]
        root = config["environment"]["DELIVERY_ROOT"]
        volumes = {target: source for source, target in (v.split(":")[:2] for v in config["volumes"])}
        assert root in volumes, f"{service}: DELIVERY_ROOT {root} is not a mounted volume"
        mounts[service] = (root, volumes[root])
    assert mounts["web"] == mounts["worker"]
    assert mounts["web"][1] in compose["volumes"]  # a named volume: kept across redeploys
