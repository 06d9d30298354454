"""Settings of the Django test project: an LMS backend that generates courses with coursegen.

`COURSEGEN` is what the project's views and commands give `coursegen.sync.connect`; the
tests replace it (`override_settings`) to point at a sandbox on virtual time.
"""

SECRET_KEY = "django-test-project-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "djangoproject.urls"
INSTALLED_APPS = ["djangoproject.courses"]
MIDDLEWARE: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True

COURSEGEN = {"target": "learningstudio", "options": {"sandbox": True}}
