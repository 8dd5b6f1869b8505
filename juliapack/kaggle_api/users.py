"""Who the credentials belong to, when they are a bare API token (KAGGLE_API_TOKEN)."""

from __future__ import annotations

from juliapack.errors import CredentialsError
from juliapack.kaggle_api.calls import AccessDenied, Calls, NotFound, build_request
from juliapack.kaggle_api.credentials import NEW_TOKEN_FIX


def token_owner(calls: Calls) -> str:
    from kagglesdk.security.types.oauth_service import IntrospectTokenRequest

    request = build_request(IntrospectTokenRequest, token=calls.credentials.token)
    try:
        response = calls.read("check the API token", lambda k: k.security.oauth_client.introspect_token(request))
    except (NotFound, AccessDenied):
        response = None
    if response is None or not response.active or not response.username:
        raise CredentialsError(f"Kaggle does not accept the API token from {calls.credentials.source}", fix=NEW_TOKEN_FIX)
    return response.username
