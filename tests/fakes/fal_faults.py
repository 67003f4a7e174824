"""The fake fal of tests/fakes/fal.py with the faults reliability tests need (test code, not product code).

    with FaultyFal(steps=("IN_PROGRESS",) * 1000) as fake:     # polls never see COMPLETED
        fake.submit_faults = [(429, {...}, {"Retry-After": "1"}), (503, {...})]
        fake.output_url = lambda job: files.add(...)          # results served elsewhere (slow, expired)
        ...
        response = fake.deliver_webhook(request_id)           # POST the signed delivery to fal_webhook

Submit faults are answered, in order, before any submit is accepted; `accepted_submits` counts the
submits that created a request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.fakes.fal import FakeFal, FakeJob
from tests.fakes.server import FakeRequest


class FaultyFal(FakeFal):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.submit_faults: list[tuple] = []
        self.output_url: Callable[[FakeJob], str] | None = None
        self.accepted_submits = 0
        self._fault_lock = threading.Lock()

    def _submit(self, request: FakeRequest) -> tuple:
        with self._fault_lock:
            fault = self.submit_faults.pop(0) if self.submit_faults else None
        if fault is not None:
            return fault
        answer = super()._submit(request)
        if answer[0] == 200:
            with self._fault_lock:
                self.accepted_submits += 1
        return answer

    def _output(self, job: FakeJob) -> dict[str, Any]:
        output = super()._output(job)
        if self.output_url is not None:
            file = output["images"][0] if "images" in output else output["video"]
            file["url"] = self.output_url(job)
        return output

    def only_job(self) -> FakeJob:
        [job] = self.jobs.values()
        return job

    def deliver_webhook(self, request_id: str, **kwargs: Any) -> httpx.Response:
        """POST the signed delivery to the `fal_webhook` URL the submit named, as fal does (§4)."""
        job = self.jobs[request_id]
        assert job.webhook_url, "the submit carried no fal_webhook"
        headers, body = self.signed_webhook(request_id, **kwargs)
        headers["Content-Type"] = "application/json"
        return httpx.post(job.webhook_url, content=body, headers=headers, timeout=15)
