"""Django OAuth Toolkit on 127.0.0.1, for `cargo xtask conformance --target dot`.

A whole Django project in one file: settings come from `configure()` below (overridable through
`DOT_*` environment variables), the database is SQLite in a fresh temporary directory, and the
server is Django's own threaded WSGI server. Usage: `python server.py --port PORT`. When it accepts
requests it prints exactly one line `READY http://127.0.0.1:PORT` on stdout; logs go to stderr.

Registered at start (see targets/dot.toml, which the runner reads):
- user `user-1` / `password-1`, who logs in through the form at `/accounts/login/`;
- `basic-client` / `basic-secret` and `post-client` / `post-secret`: confidential clients (DOT
  accepts both Basic and form-body authentication for any confidential client);
- `public-client`: a public client, no secret.
All have the redirect URI `http://127.0.0.1/callback`, the authorization-code grant and
`skip_authorization = False`, so every authorization shows DOT's consent form (approve by posting
`allow`, refuse by posting without it).
"""

import argparse
import os
import signal
import sys
import tempfile

import django
from django.conf import settings

REDIRECT_URI = "http://127.0.0.1/callback"


def env_int(name, default):
    return int(os.environ.get(name, default))


def configure(port, data_dir):
    issuer = f"http://127.0.0.1:{port}"
    settings.configure(
        DEBUG=False,
        SECRET_KEY="conformance-only-not-a-secret",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(data_dir, "db.sqlite3"),
            }
        },
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")],
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        LOGIN_URL="/accounts/login/",
        # Fast password hashing: the user logs in on every authorization.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        LOGGING={"version": 1, "disable_existing_loggers": True},
        OAUTH2_PROVIDER={
            "SCOPES": {"read": "Read", "offline_access": "Offline access"},
            "DEFAULT_SCOPES": ["read"],
            "PKCE_REQUIRED": True,
            "ROTATE_REFRESH_TOKEN": True,
            "AUTHORIZATION_CODE_EXPIRE_SECONDS": env_int("DOT_CODE_SECONDS", 2),
            "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
            "REQUEST_APPROVAL_PROMPT": "force",
            # Without it DOT derives the `iss` of authorization responses from the metadata URL
            # under the `o/` prefix (`.../o`), while the metadata served at the root (RFC 8414
            # section 3) names the root: the two must be equal (RFC 9207 section 2).
            "OIDC_ISS_ENDPOINT": issuer,
            # RFC 9207: send `iss` in every authorization response.
            "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": os.environ.get("DOT_SEND_ISS", "1") == "1",
        },
    )


def register():
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import Application

    user = get_user_model().objects.create_user("user-1", password="password-1")
    for client_id, secret, client_type in [
        ("basic-client", "basic-secret", Application.CLIENT_CONFIDENTIAL),
        ("post-client", "post-secret", Application.CLIENT_CONFIDENTIAL),
        ("public-client", "", Application.CLIENT_PUBLIC),
    ]:
        Application.objects.create(
            name=client_id,
            client_id=client_id,
            client_secret=secret,
            client_type=client_type,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=REDIRECT_URI,
            skip_authorization=False,
            user=user,
        )


def resource(request):
    """A protected resource (RFC 6750 section 2.1): 200 for a valid Bearer token, 401 otherwise."""
    from django.http import JsonResponse
    from oauth2_provider.oauth2_backends import get_oauthlib_core

    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
    if not valid:
        response = JsonResponse({"error": "invalid_token"}, status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return JsonResponse({"ok": True, "sub": oauth_request.user.username})


urlpatterns = []


def routes():
    from django.contrib.auth import views as auth_views
    from django.urls import include, path

    urlpatterns.extend(
        [
            path("accounts/login/", auth_views.LoginView.as_view(template_name="login.html")),
            path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
            path("resource", resource),
        ]
    )
    # RFC 8414 puts the metadata at the root of the issuer.
    from oauth2_provider.urls import metadata_urlpatterns

    urlpatterns.extend(metadata_urlpatterns)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="dot-conformance-")
    configure(args.port, data_dir)
    django.setup()
    routes()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    register()

    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args):
            if os.environ.get("CONFORMANCE_ACCESS_LOG") == "1":
                sys.stderr.write("%s\n" % (format % args))

    server = ThreadedWSGIServer(("127.0.0.1", args.port), QuietHandler)
    server.set_app(get_wsgi_application())
    print(f"READY http://127.0.0.1:{args.port}", flush=True)
    # SIGTERM (how the runner stops it) ends serve_forever like Ctrl-C, so the database is removed.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
