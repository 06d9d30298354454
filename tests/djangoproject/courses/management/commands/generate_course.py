"""`manage.py generate_course SUBJECT`: a course generated from a management command."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import coursegen
from djangoproject.courses.coursegen_client import client


class Command(BaseCommand):
    help = "Generate a course and print its title and token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            job = client().submit(coursegen.CourseRequest(subject=options["subject"]))
            course = job.result()
        except coursegen.CourseGenError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{course.title}\n{job.token}")
