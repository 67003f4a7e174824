"""The catalog's data, one module per vendor; `providers.catalog` indexes it on first use.

Within a vendor module the preferred model for a mode comes first: `default_model` picks it.
"""

from __future__ import annotations

from providers.catalog_data import aimlapi, apimart, dashscope, fal, lumenfall, simulator

ALL_MODELS = (
    *simulator.MODELS,
    *fal.MODELS,
    *dashscope.MODELS,
    *aimlapi.MODELS,
    *apimart.MODELS,
    *lumenfall.MODELS,
)
