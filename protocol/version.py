"""Protocol and software versions announced in every `hello`."""

PROTOCOL_VERSION = 2
# Versions this build can speak; a peer announcing anything else is closed with
# CloseCode.UNSUPPORTED_PROTOCOL.
SUPPORTED_PROTOCOL_VERSIONS = frozenset({2})
SOFTWARE_VERSION = "0.1.0"
