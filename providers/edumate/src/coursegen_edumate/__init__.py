"""EduMate assessment-job provider for coursegen."""
