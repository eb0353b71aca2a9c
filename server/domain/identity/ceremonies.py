"""WebAuthn registration and login, on the `webauthn` package, shaped for @simplewebauthn/browser.

Options go out as the JSON `webauthn.options_to_json` makes (what `startRegistration` /
`startAuthentication` take as `optionsJSON`); the browser's response JSON comes back as is.
User verification is required in both ceremonies. The package's exceptions are wrapped here,
once, into domain errors with a message a person can act on.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import webauthn
from webauthn.helpers import exceptions as wx
from webauthn.helpers import parse_authenticator_data
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from server.domain.errors import BadRequestError, UnauthorizedError

CEREMONY_TIMEOUT_MS = 120_000  # how long the browser shows its passkey prompt
MAX_CREDENTIAL_JSON_BYTES = 64 << 10  # a response bigger than this is not a passkey's


class PasskeyRefusedError(UnauthorizedError):
    """A registration or login response that does not verify."""


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def challenge_of(credential: Mapping[str, Any]) -> str:
    """The challenge a browser response answers (from its clientDataJSON), to find it stored."""
    try:
        client_data = _b64url_decode(str(credential["response"]["clientDataJSON"]))
        challenge = json.loads(client_data)["challenge"]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise BadRequestError("credential.response.clientDataJSON is not valid") from exc
    if not isinstance(challenge, str) or not challenge:
        raise BadRequestError("clientDataJSON carries no challenge")
    return challenge


def credential_id_of(credential: Mapping[str, Any]) -> bytes:
    try:
        return _b64url_decode(str(credential["rawId"]))
    except (KeyError, ValueError, binascii.Error) as exc:
        raise BadRequestError("credential.rawId is not base64url") from exc


def sign_count_of(credential: Mapping[str, Any]) -> int:
    """The authenticator's signature counter in a login response (before verification)."""
    try:
        data = _b64url_decode(str(credential["response"]["authenticatorData"]))
        return int(parse_authenticator_data(data).sign_count)
    except (KeyError, ValueError, binascii.Error, wx.WebAuthnException) as exc:
        raise BadRequestError("credential.response.authenticatorData is not valid") from exc


def _encoded(credential: Mapping[str, Any]) -> str:
    text = json.dumps(credential)
    if len(text) > MAX_CREDENTIAL_JSON_BYTES:
        raise BadRequestError(f"credential over {MAX_CREDENTIAL_JSON_BYTES} bytes")
    return text


def registration_options(
    *,
    rp_id: str,
    rp_name: str,
    user_id: str,
    user_name: str,
    exclude: list[bytes],
) -> tuple[str, dict[str, Any]]:
    """(challenge as base64url, options JSON) for `startRegistration`."""
    options = webauthn.generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user_id.encode(),
        user_name=user_name,
        timeout=CEREMONY_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude],
    )
    as_json: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return as_json["challenge"], as_json


def login_options(*, rp_id: str) -> tuple[str, dict[str, Any]]:
    """(challenge as base64url, options JSON) for `startAuthentication` with any passkey of
    this site the authenticator holds (discoverable credentials: no user name asked first)."""
    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        timeout=CEREMONY_TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    as_json: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return as_json["challenge"], as_json


def verify_registration(
    credential: Mapping[str, Any], *, challenge: str, rp_id: str, origin: str
) -> tuple[bytes, bytes, int]:
    """(credential id, COSE public key, sign count) of a verified registration response."""
    try:
        verified = webauthn.verify_registration_response(
            credential=_encoded(credential),
            expected_challenge=_b64url_decode(challenge),
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except wx.WebAuthnException as exc:
        raise PasskeyRefusedError(f"passkey registration refused: {exc}") from exc
    return verified.credential_id, verified.credential_public_key, verified.sign_count


def verify_login(
    credential: Mapping[str, Any],
    *,
    challenge: str,
    rp_id: str,
    origin: str,
    public_key: bytes,
) -> int:
    """Verify a login response's signature; returns its sign count. The caller compares the
    count with the stored one (a regression must be flagged, not just refused)."""
    try:
        verified = webauthn.verify_authentication_response(
            credential=_encoded(credential),
            expected_challenge=_b64url_decode(challenge),
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=0,  # compared by the caller
            require_user_verification=True,
        )
    except wx.WebAuthnException as exc:
        raise PasskeyRefusedError(f"passkey login refused: {exc}") from exc
    return int(verified.new_sign_count)
