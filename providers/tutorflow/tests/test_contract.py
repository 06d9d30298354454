"""TutorFlow proves the provider contract against its own simulator."""

from __future__ import annotations

from coursegen import CourseRequest
from coursegen.testing import ProviderContract


class TestTutorFlowContract(ProviderContract):
    provider = "tutorflow"
    request = CourseRequest(subject="Python for beginners", level="beginner", lesson_count=6)
    unsupported_request = CourseRequest(subject="Python for beginners", outline=("Basics",))
