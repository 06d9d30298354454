"""TutorFlow Agent Platform provider for coursegen."""
