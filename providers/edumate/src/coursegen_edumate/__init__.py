"""EduMate provider for coursegen: assessment jobs (multiple-choice, Bloom levels), PDF sources, sandbox."""
