"""Helpers for adapter authors: reading vendor bodies without ever raising a KeyError.

Every adapter, ours and third parties', turns vendor JSON into neutral records with
these, so that anything unreadable becomes `MalformedResponse` with the raw body:

- `read_json` / `parse_json`: a body that is not JSON -> `MalformedResponse`.
- `structure`: cattrs structuring whose errors name the JSON path that was wrong.
- `camel_case_converter`: one cattrs Converter per vendor, renaming snake_case fields
  to camelCase on the wire, strict about types (no `null` turned into `"None"`).
- `provider_error`: the typed error of an unsuccessful response, by the vendor's code
  table first and `error_class_for_status` (the class of an HTTP status) otherwise.
- `parse_retry_after`, `parse_rate_limit_headers`: `Retry-After` and `RateLimit-*` /
  `X-RateLimit-*` headers as seconds from now, without reading a clock.
- `VendorAPI`: the plumbing around all of that, bound to one base URL and key: URLs,
  quoted path segments, auth and JSON headers, bodies read into wire models, typed
  errors with secrets redacted, vendor-given URLs kept on the configured host.
  It also checks a request's kind (`only`), reads an error body's code and message
  in the usual shapes (`error_fields`) and a webhook's body (`webhook`, a `WebhookBody`).
- `verify_hmac_sha256`: a webhook signature checked against the raw body, in constant time.
- `text_option`, `whole_number_option`: a provider's own settings options, checked.
- `job_error_info`, `fraction_of_percent`, `seconds_of_ms`, `query_params`,
  `request_of`, `https_problem`, `unknown_keys`: small translations and checks every
  adapter writes otherwise.
"""

from ._api import (
    VendorAPI,
    WebhookBody,
    fraction_of_percent,
    https_problem,
    job_error_info,
    query_params,
    request_of,
    seconds_of_ms,
    text_option,
    unknown_keys,
    verify_hmac_sha256,
    whole_number_option,
)
from ._wire import (
    camel_case,
    camel_case_converter,
    error_class_for_status,
    parse_json,
    parse_rate_limit_headers,
    parse_retry_after,
    provider_error,
    read_json,
    structure,
)

__all__ = [
    "VendorAPI",
    "WebhookBody",
    "camel_case",
    "camel_case_converter",
    "error_class_for_status",
    "fraction_of_percent",
    "https_problem",
    "job_error_info",
    "parse_json",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "provider_error",
    "query_params",
    "read_json",
    "request_of",
    "seconds_of_ms",
    "structure",
    "text_option",
    "unknown_keys",
    "verify_hmac_sha256",
    "whole_number_option",
]
