"""Sync Django views on the coursegen.sync facade: submit, look (or wait), receive webhooks."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

import coursegen
from djangoproject.courses.coursegen_client import client


@csrf_exempt
@require_POST
def create_course(request: HttpRequest) -> JsonResponse:
    subject = request.POST.get("subject", "")
    callback = request.POST.get("callback_url") or None
    try:
        job = client().submit(coursegen.CourseRequest(subject=subject, callback_url=callback))
    except coursegen.CourseGenError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"token": job.token, "status": job.status.value}, status=202)


@require_GET
def course_status(request: HttpRequest, token: str) -> JsonResponse:
    try:
        job = client().resume(token)
        if request.GET.get("wait"):
            course = job.result(timeout=float(request.GET["wait"]))
            return JsonResponse({"status": job.status.value, "title": course.title})
    except coursegen.JobTimeout:
        return JsonResponse({"status": job.status.value}, status=202)
    except coursegen.CourseGenError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"status": job.status.value})


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> JsonResponse:
    receipt = client().receive_webhook(dict(request.headers), request.body)
    return JsonResponse(receipt.body(), status=receipt.status_code)
