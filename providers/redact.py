"""Removing secrets from what a vendor says before we store, log or show it (shared/RELIABILITY.md §9).

Plain Python: the caller passes the secrets it knows (the app's `wanweb.redaction.known_secrets()`
gathers the configured ones). Besides those, anything shaped like a credential is replaced too,
so a key we were never told about (a vendor echoing some other header, a per-team key) still
does not survive: `Bearer …`, `Key …`, `sk-…`/`whsec_…`-style prefixed tokens, JWTs and long
random-looking strings.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

REDACTED = "[redacted]"
DEFAULT_LIMIT = 500
MIN_SECRET_CHARS = 6  # a shorter "secret" would redact ordinary words
PREFIX_CHARS = 8  # a vendor quoting (or our own truncation leaving) the start of a key still counts

# Authorization schemes: whatever follows the scheme word is the credential.
_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)(\s+|\s*[:=]\s*)[^\s\"',;)\]}]{4,}")
# fal's `Key <key>` and `api_key=...`: only when the value looks like a key (has a digit), so
# "Invalid key: authentication failed" keeps its words.
_KEY_WORD = re.compile(
    r"(?i)\b((?:x-)?api[-_]?key|key|secret|password|access[-_]?token)(\s*[:=]\s*|\s+)"
    r"[\"']?(?=[^\s\"',;]*\d)[^\s\"',;)\]}]{8,}"
)
# Vendor key prefixes (OpenAI-style sk-, Stripe-style rk_/pk_, Standard Webhooks whsec_, Lumenfall).
_PREFIXED = re.compile(r"\b(?:sk|rk|pk|whsec|lmnfl|key|api|tok)[-_][A-Za-z0-9+/=_\-]{6,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_\-]{24,}")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(token: str) -> bool:
    """A long token mixing cases and digits with high entropy, or a long hex/alnum run.

    UUIDs (hex with dashes), model ids and URL paths (lower case, words) stay readable.
    """
    core = token.strip("=-_")
    has_digit = any(c.isdigit() for c in core)
    has_alpha = any(c.isalpha() for c in core)
    if not (has_digit and has_alpha):
        return False
    mixed_case = any(c.islower() for c in core) and any(c.isupper() for c in core)
    if mixed_case and _entropy(core) >= 3.5:
        return True
    # 32+ alphanumerics in one run, no separators: a hex or base62 key.
    return re.fullmatch(r"[A-Za-z0-9]{32,}", core) is not None


@lru_cache(maxsize=32)
def _secret_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    alternatives = []
    for secret in sorted(secrets, key=len, reverse=True):
        alternatives.append(re.escape(secret))
        if len(secret) > PREFIX_CHARS + 4:
            # The start of the key followed by anything key-like: a truncated or masked echo.
            alternatives.append(re.escape(secret[:PREFIX_CHARS]) + r"[^\s\"',;]*")
    return re.compile("|".join(alternatives)) if alternatives else None


def redact(text: object, secrets: Iterable[str] = (), *, limit: int | None = DEFAULT_LIMIT) -> str:
    """`text` with every known secret and credential-shaped token replaced by [redacted], then capped.

    Redaction runs before the cap, so a cut can never leave the start of a secret behind.
    """
    if text is None:
        return ""
    value = text if isinstance(text, str) else str(text)
    known = frozenset(s for s in (str(s).strip() for s in secrets if s) if len(s) >= MIN_SECRET_CHARS)
    pattern = _secret_pattern(known)
    if pattern is not None:
        value = pattern.sub(REDACTED, value)
    value = _SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", value)
    value = _KEY_WORD.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", value)
    value = _JWT.sub(REDACTED, value)
    value = _PREFIXED.sub(REDACTED, value)
    value = _CANDIDATE.sub(lambda m: REDACTED if _looks_random(m.group(0)) else m.group(0), value)
    if limit is not None and len(value) > limit:
        value = value[: max(0, limit - 1)] + "…"
    return value
