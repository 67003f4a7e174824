"""gunicorn's logger with every line redacted, the access log included (gunicorn.conf.py).

The access log writes request lines and referers, which name share-link and input-file paths
with their tokens; Django's own loggers already go through `RedactingFilter` (settings.LOGGING).
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from wanweb.redaction import RedactingFilter


class RedactingLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.access_log, self.error_log):
            log.addFilter(RedactingFilter())
