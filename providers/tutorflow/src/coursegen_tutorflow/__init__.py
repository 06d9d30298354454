"""TutorFlow Agent Platform provider for coursegen: course requests, idempotent submit, cost, public pages, signed webhooks, sandbox."""
