"""TutorFlow proves the provider contract against its own simulator."""

from __future__ import annotations

import attrs

from coursegen import CourseRequest
from coursegen.testing import ProviderContract
from coursegen_tutorflow.sandbox import DEMO_WORKSPACE


class TestTutorFlowContract(ProviderContract):
    provider = "tutorflow"
    request = CourseRequest(subject="Python for beginners", level="beginner", lesson_count=6)
    unsupported_request = CourseRequest(subject="Python for beginners", outline=("Basics",))
    invalid_request = CourseRequest(subject="Python for beginners", level="expert")

    def prepare_webhooks(self, simulator):
        """TutorFlow sends a workspace's events to the URL configured for it."""
        workspace = simulator.workspaces[DEMO_WORKSPACE]
        simulator.workspaces[DEMO_WORKSPACE] = attrs.evolve(
            workspace, webhook_url="https://lms.example/hooks/tutorflow"
        )
        return {"webhook_secret": workspace.webhook_secret}
