"""pytest plugin and conformance kit for coursegen providers."""
