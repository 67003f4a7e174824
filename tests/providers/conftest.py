from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(vendor: str, name: str) -> Any:
    """A recorded or documented vendor payload from tests/providers/fixtures/<vendor>/<name>."""
    return json.loads((FIXTURES / vendor / name).read_text())
