"""Headless Authlib (Flask) authorization server for `cargo xtask conformance`.

Usage: python server.py --port PORT

Binds 127.0.0.1:PORT only, prints exactly one line `READY http://127.0.0.1:PORT`
to stdout when listening, logs everything else to stderr, exits on
SIGTERM/SIGINT. Everything is in memory. See ../README.md for the contract
shared with ../oidc-provider/server.mjs.
"""

import os

# Plain http on loopback: must be set before authlib is imported.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from authlib.integrations.flask_oauth2 import (  # noqa: E402
    AuthorizationServer,
    ResourceProtector,
    current_token,
)
from authlib.oauth2 import OAuth2Error  # noqa: E402
from authlib.oauth2.rfc6749 import grants  # noqa: E402
from authlib.oauth2.rfc6749.errors import (  # noqa: E402
    InvalidRequestError,
    MissingAuthorizationError,
    UnsupportedTokenTypeError,
)
from authlib.oauth2.rfc6750 import BearerTokenValidator  # noqa: E402
from authlib.oauth2.rfc7009 import RevocationEndpoint  # noqa: E402
from authlib.oauth2.rfc7636 import CodeChallenge  # noqa: E402
from authlib.oauth2.rfc8628 import (  # noqa: E402
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
)
from flask import Flask, jsonify, request  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

log = logging.getLogger("conformance-authlib")

REDIRECT_URI = "http://127.0.0.1/callback"
ACCOUNT_ID = "user-1"
SCOPES = ["openid", "offline_access", "read"]
CODE_TTL = 2  # seconds
ACCESS_TOKEN_TTL = 3600  # seconds
DEVICE_INTERVAL = 1  # seconds between polls: short, so that conformance runs stay quick
DEVICE_CODE_TTL = 60  # seconds
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

LOCK = threading.RLock()
STATE = {"consent": "approve"}  # what the automatic consent does


# --------------------------------------------------------------------------
# Models (in memory)


@dataclass
class User:
    id: str

    def get_user_id(self):
        return self.id


USER = User(ACCOUNT_ID)


@dataclass
class Client:
    client_id: str
    client_secret: str | None
    token_endpoint_auth_method: str
    redirect_uris: tuple = (REDIRECT_URI,)
    grant_types: tuple = ("authorization_code", "refresh_token")
    response_types: tuple = ("code",)

    @property
    def is_public(self):
        return self.token_endpoint_auth_method == "none"

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        import hmac

        return self.client_secret is not None and hmac.compare_digest(
            self.client_secret.encode(), client_secret.encode()
        )

    def check_endpoint_auth_method(self, method, endpoint):
        # Same method at the token and the revocation endpoints.
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type):
        return response_type in self.response_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


# Confidential clients may also use the device flow (RFC 8628) and client credentials (RFC 6749 4.4).
CONFIDENTIAL_GRANTS = ("authorization_code", "refresh_token", DEVICE_CODE_GRANT_TYPE, "client_credentials")

CLIENTS = {
    c.client_id: c
    for c in (
        Client("basic-client", "basic-secret", "client_secret_basic", grant_types=CONFIDENTIAL_GRANTS),
        Client("post-client", "post-secret", "client_secret_post", grant_types=CONFIDENTIAL_GRANTS),
        Client("public-client", None, "none"),
    )
}


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user_id: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def is_expired(self):
        return time.time() >= self.expires_at


@dataclass
class RefreshToken:
    refresh_token: str
    client_id: str
    scope: str
    user_id: str
    revoked: bool = False
    access_tokens: list = field(default_factory=list)

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def is_revoked(self):
        return self.revoked


@dataclass
class AccessToken:
    access_token: str
    client_id: str
    scope: str
    user_id: str
    issued_at: float
    expires_in: int
    refresh_token: str | None = None
    revoked: bool = False

    def check_client(self, client):
        return client.get_client_id() == self.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return User(self.user_id)

    def get_client(self):
        return CLIENTS.get(self.client_id)


@dataclass
class DeviceCredential:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    last_poll: float | None = None

    def get_client_id(self):
        return self.client_id

    def get_scope(self):
        return self.scope

    def get_user_code(self):
        return self.user_code

    def is_expired(self):
        return time.time() >= self.expires_at


CODES: dict[str, AuthorizationCode] = {}
DEVICES: dict[str, DeviceCredential] = {}  # by device code
DEVICE_DECISIONS: dict[str, bool] = {}  # user code -> approved
ACCESS_TOKENS: dict[str, AccessToken] = {}
REFRESH_TOKENS: dict[str, RefreshToken] = {}


def query_client(client_id):
    return CLIENTS.get(client_id)


def save_token(token, req):
    """Store a token response. A refresh response without a new refresh
    token (confidential clients) keeps the access token linked to the old one."""
    with LOCK:
        rt_value = token.get("refresh_token")
        scope = token.get("scope", "")
        client_id = req.client.get_client_id()
        # Client credentials have no user.
        user_id = req.user.get_user_id() if req.user is not None else None
        if rt_value:
            REFRESH_TOKENS[rt_value] = RefreshToken(rt_value, client_id, scope, user_id)
        else:
            old = getattr(req, "refresh_token", None)
            rt_value = old.refresh_token if old is not None else None
        at = AccessToken(
            token["access_token"],
            client_id,
            scope,
            user_id,
            time.time(),
            int(token.get("expires_in", ACCESS_TOKEN_TTL)),
            rt_value,
        )
        ACCESS_TOKENS[at.access_token] = at
        if rt_value and rt_value in REFRESH_TOKENS:
            REFRESH_TOKENS[rt_value].access_tokens.append(at.access_token)


def revoke_refresh_token(rt):
    """Revoke a refresh token and the access tokens issued with it."""
    with LOCK:
        rt.revoked = True
        for value in rt.access_tokens:
            at = ACCESS_TOKENS.get(value)
            if at is not None:
                at.revoked = True


# --------------------------------------------------------------------------
# Grants and endpoints


class PKCE(CodeChallenge):
    """S256 only; a code_challenge is required up front for the public client."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        if grant.request.client.is_public and not challenge:
            raise InvalidRequestError("Missing 'code_challenge' (PKCE is required for public clients)")
        if challenge and not method:
            raise InvalidRequestError("'code_challenge_method' must be S256")
        return super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code):
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.code_challenge_method


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, req):
        data = req.payload.data
        item = AuthorizationCode(
            code=code,
            client_id=req.client.get_client_id(),
            redirect_uri=req.payload.redirect_uri,
            scope=req.scope,
            user_id=req.user.get_user_id(),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=time.time() + CODE_TTL,
        )
        with LOCK:
            CODES[code] = item
        return item

    def query_authorization_code(self, code, client):
        with LOCK:
            item = CODES.get(code)
            if item is None or item.client_id != client.get_client_id():
                return None
            if item.is_expired():
                del CODES[code]
                return None
            return item

    def delete_authorization_code(self, authorization_code):
        with LOCK:
            CODES.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return User(authorization_code.user_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Rotation for the public client only; confidential clients keep theirs
    (the refresh response then carries no refresh_token)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def issue_token(self, user, refresh_token):
        scope = self.request.payload.scope or refresh_token.get_scope()
        return self.generate_token(
            user=user,
            scope=scope,
            include_refresh_token=self.request.client.is_public,
        )

    def authenticate_refresh_token(self, refresh_token):
        with LOCK:
            item = REFRESH_TOKENS.get(refresh_token)
            if item is not None and not item.revoked:
                return item
            return None

    def authenticate_user(self, refresh_token):
        return User(refresh_token.user_id)

    def revoke_old_credential(self, refresh_token):
        if self.request.client.is_public:
            with LOCK:
                refresh_token.revoked = True


class DeviceAuthorization(DeviceAuthorizationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS
    INTERVAL = DEVICE_INTERVAL
    EXPIRES_IN = DEVICE_CODE_TTL

    def __init__(self, server, issuer):
        super().__init__(server)
        self.issuer = issuer

    def get_verification_uri(self):
        return f"{self.issuer}/device"

    def save_device_credential(self, client_id, scope, data):
        item = DeviceCredential(data["device_code"], data["user_code"], client_id, scope or "",
                                time.time() + DEVICE_CODE_TTL)
        with LOCK:
            DEVICES[item.device_code] = item


class DeviceGrant(DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def query_device_credential(self, device_code):
        with LOCK:
            return DEVICES.get(device_code)

    def query_user_grant(self, user_code):
        with LOCK:
            if user_code not in DEVICE_DECISIONS:
                return None
            approved = DEVICE_DECISIONS[user_code]
        return USER, approved

    def should_slow_down(self, credential):
        # One poll per interval; a poll that comes too soon does not restart the wait.
        now = time.time()
        with LOCK:
            if credential.last_poll is not None and now - credential.last_poll < DEVICE_INTERVAL:
                return True
            credential.last_poll = now
        return False


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        with LOCK:
            if token_type_hint == "access_token":
                order = (ACCESS_TOKENS, REFRESH_TOKENS)
            else:
                order = (REFRESH_TOKENS, ACCESS_TOKENS)
            for store in order:
                item = store.get(token_string)
                if item is not None:
                    return item
            return None

    def revoke_token(self, token, req):
        if isinstance(token, RefreshToken):
            revoke_refresh_token(token)
        else:
            with LOCK:
                token.revoked = True


class Protector(ResourceProtector):
    """Library behaviour, except that a request without (or with a non-Bearer)
    Authorization header gets the RFC 6750 section 3 challenge
    `WWW-Authenticate: Bearer realm="..."` (the library sends a lowercase
    `bearer` scheme with a non-standard error code there)."""

    def raise_error_response(self, error):
        if isinstance(error, (MissingAuthorizationError, UnsupportedTokenTypeError)):
            import json

            from authlib.integrations.flask_oauth2.errors import raise_http_exception

            body = json.dumps(dict(error.get_body()))
            headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                       ("WWW-Authenticate", f'Bearer realm="{self._default_realm}"')]
            raise_http_exception(401, body, headers)
        return super().raise_error_response(error)


class Validator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        with LOCK:
            return ACCESS_TOKENS.get(token_string)


# --------------------------------------------------------------------------
# App


def create_app(issuer):
    app = Flask(__name__)
    app.config.update(
        OAUTH2_REFRESH_TOKEN_GENERATOR=True,
        OAUTH2_TOKEN_EXPIRES_IN={
            "authorization_code": ACCESS_TOKEN_TTL,
            "refresh_token": ACCESS_TOKEN_TTL,
            "client_credentials": ACCESS_TOKEN_TTL,
            DEVICE_CODE_GRANT_TYPE: ACCESS_TOKEN_TTL,
        },
        OAUTH2_SCOPES_SUPPORTED=SCOPES,
    )
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(AuthorizationCodeGrant, [PKCE(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(Revocation)
    server.register_grant(DeviceGrant)
    server.register_grant(ClientCredentialsGrant)
    device_endpoint = DeviceAuthorization(server, issuer)
    server.register_endpoint(device_endpoint)

    require_oauth = Protector()
    require_oauth.register_token_validator(Validator(realm=issuer))

    @app.get("/authorize")
    def authorize():
        try:
            grant = server.get_consent_grant(end_user=USER)
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        grant_user = USER if STATE["consent"] == "approve" else None
        return server.create_authorization_response(grant=grant, grant_user=grant_user)

    @app.post("/token")
    def issue_token():
        return server.create_token_response()

    @app.post("/device_authorization")
    def device_authorization():
        return server.create_endpoint_response(DeviceAuthorization.ENDPOINT_NAME)

    @app.post("/__control/device")
    def control_device():
        """Approves or denies a user code as its user would on a verification page."""
        body = request.get_json(force=True, silent=True) or {}
        user_code, mode = body.get("user_code"), body.get("mode")
        if mode not in ("approve", "deny") or not isinstance(user_code, str):
            return jsonify(error="invalid_request",
                           error_description='give user_code and mode "approve" or "deny"'), 400
        with LOCK:
            if not any(d.user_code == user_code for d in DEVICES.values()):
                return jsonify(error="not_found"), 404
            DEVICE_DECISIONS[user_code] = mode == "approve"
        return jsonify(mode=mode)

    @app.post("/revoke")
    def revoke_token():
        return server.create_endpoint_response(Revocation.ENDPOINT_NAME)

    @app.get("/resource")
    @require_oauth()
    def resource():
        return jsonify(ok=True, sub=current_token.user_id, scope=current_token.scope,
                       client_id=current_token.client_id)

    @app.post("/__control/consent")
    def control_consent():
        body = request.get_json(force=True, silent=True) or {}
        mode = body.get("mode")
        if mode not in ("approve", "deny"):
            return jsonify(error="invalid_request",
                           error_description='mode must be "approve" or "deny"'), 400
        STATE["consent"] = mode
        log.info("consent mode: %s", mode)
        return jsonify(mode=mode)

    @app.get("/.well-known/oauth-authorization-server")
    def metadata():
        return jsonify(
            issuer=issuer,
            authorization_endpoint=f"{issuer}/authorize",
            token_endpoint=f"{issuer}/token",
            revocation_endpoint=f"{issuer}/revoke",
            device_authorization_endpoint=f"{issuer}/device_authorization",
            scopes_supported=SCOPES,
            response_types_supported=["code"],
            grant_types_supported=list(CONFIDENTIAL_GRANTS),
            token_endpoint_auth_methods_supported=AUTH_METHODS,
            revocation_endpoint_auth_methods_supported=AUTH_METHODS,
            code_challenge_methods_supported=["S256"],
        )

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if not 0 < args.port < 65536:
        parser.error("--port out of range")

    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="[authlib] %(name)s %(levelname)s %(message)s")
    # Per-request access lines only when asked for (they would flood the runner's stderr).
    if os.environ.get("CONFORMANCE_ACCESS_LOG") != "1":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    issuer = f"http://127.0.0.1:{args.port}"
    app = create_app(issuer)
    httpd = make_server("127.0.0.1", args.port, app, threaded=True)

    def stop(signum, _frame):
        log.info("signal %s: shutting down", signum)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    sys.stdout.write(f"READY {issuer}\n")
    sys.stdout.flush()
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
