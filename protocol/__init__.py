"""Tether's wire contract: message types, close and error codes, protocol version.

Imports only the standard library and msgspec, so relay, server and clients all share it.
"""
