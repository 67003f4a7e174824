from __future__ import annotations

import pytest

from wanweb.accounts.models import Membership
from wanweb.api import services


def make_token(user, team, **kwargs) -> str:
    membership = Membership.objects.get(user=user, team=team)
    _token, raw = services.token_create(membership=membership, name="test", **kwargs)
    return raw


@pytest.fixture
def alice_token(alice, acme):
    return make_token(alice, acme)


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
