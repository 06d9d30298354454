"""EduMate proves the provider contract against its own simulator."""

from __future__ import annotations

from coursegen import AssessmentRequest, BloomLevel
from coursegen.testing import ProviderContract
from coursegen_edumate.sandbox import DEMO_COLLECTION


class TestEduMateContract(ProviderContract):
    provider = "edumate"
    request = AssessmentRequest(
        topic="Photosynthesis",
        collection=DEMO_COLLECTION,
        bloom_mix={BloomLevel.REMEMBER: 2, BloomLevel.ANALYZE: 1},
    )
    unsupported_request = AssessmentRequest(
        topic="Photosynthesis",
        collection=DEMO_COLLECTION,
        callback_url="https://lms.example/hooks/edumate",
    )
    invalid_request = AssessmentRequest(topic="   ", collection=DEMO_COLLECTION)
