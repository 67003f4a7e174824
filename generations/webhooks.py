"""Vendor callbacks (fal, Lumenfall): verify, apply, answer fast.

The work done here is a few conditional UPDATEs and at most an enqueue (outputs are copied by a
download task), so answering within the vendors' timeouts (fal: 15 s) is safe. A delivery the
vendor retries is harmless: applying the same update twice changes nothing the second time.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations import services
from providers.base import ProviderError, WebhookError
from wanweb.accounts.models import VendorCredential

logger = logging.getLogger(__name__)

WEBHOOK_PROVIDERS = ("fal", "lumenfall")


@csrf_exempt  # vendors sign their deliveries instead; there is no session or CSRF cookie
@require_POST
def vendor_webhook(request, provider: str, credential_id=None) -> HttpResponse:
    """Deliveries for jobs on the operator's key come to /webhooks/<provider>/; for jobs on a team's
    own key to /webhooks/<provider>/<credential>/, verified with that team's secret. A replaced
    (revoked) credential still takes deliveries for the jobs submitted with it."""
    if provider not in WEBHOOK_PROVIDERS:
        raise Http404("No webhook for that provider")
    credential = None
    if credential_id is not None:
        credential = VendorCredential.objects.filter(public_id=credential_id, vendor=provider).first()
        if credential is None:
            raise Http404("No webhook for that key")
    elif provider not in services.available_providers():
        raise Http404("No webhook for that provider")
    try:
        job = services.job_handle_webhook(
            provider=provider, headers=request.headers, body=request.body, credential=credential
        )
    except WebhookError as exc:
        logger.warning("refused a %s webhook: %s", provider, exc)
        return JsonResponse({"error": "invalid signature"}, status=401)
    except ProviderError as exc:
        if exc.permanent:
            # A misconfigured secret: no retry can verify this delivery; the job is polled instead.
            logger.error("cannot verify %s webhooks: %s", provider, exc)
            return JsonResponse({"error": "webhook verification is not configured"}, status=500)
        # Most often the verification keys could not be fetched: 503 makes the vendor retry later.
        logger.warning("could not process a %s webhook: %s", provider, exc)
        return JsonResponse({"error": "try again later"}, status=503)
    return JsonResponse({"ok": True, "known": job is not None})
