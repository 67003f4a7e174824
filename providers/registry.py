"""Provider name -> client, imported on first use so one broken vendor module only breaks itself.

A vendor is offered only when it has an API key (from the environment or the team's own key);
the simulator needs none and is always offered.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from providers.base import Client, ErrorCode, ProviderError

# name -> (dotted path of the client class, env var of its key or None, env var of its base URL, default base URL)
PROVIDERS: dict[str, tuple[str, str | None, str | None, str | None]] = {
    "simulator": ("providers.simulator.SimulatorClient", None, None, None),
    "fal": ("providers.fal.FalClient", "FAL_KEY", "FAL_QUEUE_URL", "https://queue.fal.run"),
    "dashscope": (
        "providers.dashscope.DashScopeClient",
        "DASHSCOPE_API_KEY",
        "DASHSCOPE_BASE_URL",
        "https://dashscope-intl.aliyuncs.com",
    ),
    "aimlapi": (
        "providers.aimlapi.AimlapiClient",
        "AIMLAPI_API_KEY",
        "AIMLAPI_BASE_URL",
        "https://api.aimlapi.com",
    ),
    "apimart": (
        "providers.apimart.ApimartClient",
        "APIMART_API_KEY",
        "APIMART_BASE_URL",
        "https://api.apimart.ai",
    ),
    "lumenfall": (
        "providers.lumenfall.LumenfallClient",
        "LUMENFALL_API_KEY",
        "LUMENFALL_BASE_URL",
        "https://api.lumenfall.ai",
    ),
}

# Vendors whose client has `verify_key()`: one cheap authenticated call they document
# (shared/providers/). The others are verified by their first real call.
VERIFIABLE = ("apimart", "lumenfall")

PROVIDER_LABELS = {
    "simulator": "Simulator (offline)",
    "fal": "fal.ai",
    "dashscope": "Alibaba DashScope",
    "aimlapi": "AI/ML API",
    "apimart": "APIMart",
    "lumenfall": "Lumenfall",
}


def available_providers(
    *, environ: Mapping[str, str] | None = None, team_keys: Mapping[str, str] | None = None
) -> list[str]:
    """Names of the providers that can run jobs now: the simulator plus every vendor with a key."""
    environ = os.environ if environ is None else environ
    team_keys = team_keys or {}
    names = []
    for name, (_, key_var, _, _) in PROVIDERS.items():
        if key_var is None or environ.get(key_var) or team_keys.get(name):
            names.append(name)
    return names


def get_client(
    name: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Client:
    """A client for `name`, configured from the arguments or else the environment (shared/DESIGN.md)."""
    try:
        dotted, key_var, url_var, default_url = PROVIDERS[name]
    except KeyError:
        raise ProviderError(f"unknown provider {name!r}", code=ErrorCode.INVALID_REQUEST) from None
    environ = os.environ if environ is None else environ
    module_name, class_name = dotted.rsplit(".", 1)
    cls: Any = getattr(importlib.import_module(module_name), class_name)
    if key_var is None:
        return cls()
    key = api_key or environ.get(key_var, "")
    if not key:
        raise ProviderError(
            f"{PROVIDER_LABELS[name]} has no API key configured ({key_var})", code=ErrorCode.NOT_CONFIGURED
        )
    url = (base_url or environ.get(url_var or "", "") or default_url or "").rstrip("/")
    return cls(api_key=key, base_url=url, environ=environ)
