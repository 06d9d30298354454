"""LearningStudioAI proves the provider contract against its own simulator."""

from __future__ import annotations

from coursegen import CourseRequest
from coursegen.testing import ProviderContract


class TestLearningStudioContract(ProviderContract):
    provider = "learningstudio"
    request = CourseRequest(
        subject="Workplace safety basics", outline=("Hazards", "PPE"), add_ons={"assessment"}
    )
    unsupported_request = CourseRequest(subject="Workplace safety basics", lesson_count=4)
    invalid_request = CourseRequest(subject="   ")
    webhook_request = CourseRequest(
        subject="Workplace safety basics", callback_url="https://lms.example/hooks/ls"
    )
