"""The project's one coursegen client: the same for every request, thread and command."""

from django.conf import settings

import coursegen.sync


def client() -> coursegen.sync.SyncClient:
    conf = settings.COURSEGEN
    return coursegen.sync.connect(conf["target"], **conf.get("options", {}))
