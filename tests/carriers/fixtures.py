"""Load the carrier fixtures in tests/fixtures/carriers/<carrier>/<name>.json."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "carriers"


def load(carrier: str, name: str):
    return json.loads((ROOT / carrier / f"{name}.json").read_text(encoding="utf-8"))
