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
- `https_problem`, `unknown_keys`: small checks every adapter writes otherwise.
"""

from ._api import VendorAPI, https_problem, unknown_keys
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
    "camel_case",
    "camel_case_converter",
    "error_class_for_status",
    "https_problem",
    "parse_json",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "provider_error",
    "read_json",
    "structure",
    "unknown_keys",
]
