// Headless oidc-provider authorization server for `cargo xtask conformance`.
//
// Usage: node server.mjs --port PORT
//
// Binds 127.0.0.1:PORT only, prints exactly one line `READY http://127.0.0.1:PORT`
// to stdout when listening, logs everything else to stderr, exits on SIGTERM/SIGINT.
// See ../README.md for the contract shared with ../authlib/server.py.

import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

// oidc-provider logs deprecation/"unsupported runtime" notices through
// console.warn/console.info; keep stdout reserved for the READY line.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

const { default: Provider, errors } = await import('oidc-provider');

function parsePort(argv) {
  const i = argv.indexOf('--port');
  const raw = i >= 0 ? argv[i + 1] : undefined;
  const port = Number.parseInt(raw ?? '', 10);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write('usage: node server.mjs --port PORT\n');
    process.exit(2);
  }
  return port;
}

const PORT = parsePort(process.argv.slice(2));
const HOST = '127.0.0.1';
const ISSUER = `http://${HOST}:${PORT}`;
const RESOURCE = `${ISSUER}/resource`;
const REDIRECT_URI = 'http://127.0.0.1/callback';
const ACCOUNT_ID = 'user-1';
const OIDC_SCOPES = new Set(['openid', 'offline_access']);
const RESOURCE_SCOPES = new Set(['read']);

// What the automatic consent does: 'approve' (default) or 'deny'.
let consentMode = 'approve';

const log = (...args) => process.stderr.write(`[oidc-provider] ${args.join(' ')}\n`);

// A fresh signing key per run (ID tokens are signed with RS256 by default).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'conformance-rs256' };

const common = {
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
};

// Confidential clients may also use the device flow (RFC 8628) and client credentials (RFC 6749 4.4).
const confidential = {
  ...common,
  grant_types: [...common.grant_types, 'urn:ietf:params:oauth:grant-type:device_code', 'client_credentials'],
};

const configuration = {
  clients: [
    { ...confidential, client_id: 'basic-client', client_secret: 'basic-secret', token_endpoint_auth_method: 'client_secret_basic' },
    { ...confidential, client_id: 'post-client', client_secret: 'post-secret', token_endpoint_auth_method: 'client_secret_post' },
    { ...common, client_id: 'public-client', token_endpoint_auth_method: 'none' },
  ],
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['conformance-cookie-key-not-secret'] },
  routes: {
    authorization: '/authorize',
    token: '/token',
    revocation: '/revoke',
    introspection: '/introspect',
    device_authorization: '/device/auth',
    code_verification: '/device',
    userinfo: '/userinfo',
    jwks: '/jwks',
  },
  scopes: ['openid', 'offline_access'],
  findAccount(_ctx, sub) {
    return { accountId: sub, claims: async () => ({ sub }) };
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
    // User codes are approved through /__control/device, as a user would on the verification page.
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    // Plain Bearer tokens only (RFC 6750); the runner never sends DPoP proofs.
    dPoP: { enabled: false },
    // `read` is a resource-server scope: every authorization/token request is
    // for the single resource `${ISSUER}/resource`, whose opaque access tokens
    // carry `read`.
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: [...RESOURCE_SCOPES].join(' '),
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'opaque',
        };
      },
    },
  },
  // oidc-provider drops `offline_access` from the requested scope unless the
  // request also carries prompt=consent (actions/authorization/scopes.js), so
  // the scope cannot tell us here whether it was asked for. Issue a refresh
  // token to every client allowed the refresh_token grant (all three are),
  // like the Authlib server does, and do not tie it to the browser session.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  ttl: {
    AuthorizationCode: 3, // whole seconds, rounded down at issue: codes live 2 to 3 s
    AccessToken: 3600,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Interaction: 600,
    Session: 24 * 3600,
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  // Errors that cannot go back to the client (unknown client, unregistered
  // redirect_uri) answer JSON instead of the default HTML page.
  renderError: async (ctx, out) => {
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(out);
  },
};

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;
provider.on('server_error', (_ctx, err) => log('server_error', err?.stack ?? err));

function sendJson(res, status, body, headers = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(data),
    ...headers,
  });
  res.end(data);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 64 * 1024) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// Automatic login + consent: one interaction finishes both prompts.
async function handleInteraction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (consentMode === 'deny') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'consent denied (conformance deny mode)',
    }, { mergeWithLastSubmission: false });
    return;
  }

  const { params } = details;
  const requested = String(params.scope ?? '').split(' ').filter(Boolean);
  let grant;
  if (details.grantId) grant = await provider.Grant.find(details.grantId);
  if (!grant) grant = new provider.Grant({ accountId: ACCOUNT_ID, clientId: params.client_id });

  const oidc = requested.filter((s) => OIDC_SCOPES.has(s));
  if (oidc.length) grant.addOIDCScope(oidc.join(' '));
  const rs = requested.filter((s) => RESOURCE_SCOPES.has(s));
  if (rs.length) grant.addResourceScope(RESOURCE, rs.join(' '));
  // Anything the provider itself reports as missing (claims, other resources).
  const missing = details.prompt?.details ?? {};
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();

  await provider.interactionFinished(req, res, {
    login: { accountId: details.session?.accountId ?? ACCOUNT_ID },
    consent: { grantId },
  }, { mergeWithLastSubmission: true });
}

function bearerChallenge(res, error, description) {
  let challenge = `Bearer realm="${ISSUER}"`;
  if (error) challenge += `, error="${error}", error_description="${description}"`;
  const body = error ? { error, error_description: description } : { error: 'invalid_request', error_description: description };
  sendJson(res, error === 'invalid_request' ? 400 : 401, body, { 'www-authenticate': challenge });
}

async function handleResource(req, res) {
  const header = req.headers.authorization;
  if (!header) {
    bearerChallenge(res, undefined, 'no access token');
    return;
  }
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!m) {
    bearerChallenge(res, 'invalid_token', 'malformed Authorization header');
    return;
  }
  const token = await provider.AccessToken.find(m[1]);
  if (!token || token.isExpired) {
    bearerChallenge(res, 'invalid_token', 'access token is unknown, expired or revoked');
    return;
  }
  if (token.jkt || token['x5t#S256']) {
    bearerChallenge(res, 'invalid_token', 'sender-constrained token used as bearer');
    return;
  }
  if (token.grantId) {
    const grant = await provider.Grant.find(token.grantId);
    if (!grant) {
      bearerChallenge(res, 'invalid_token', 'grant revoked');
      return;
    }
  }
  sendJson(res, 200, { ok: true, sub: token.accountId, scope: token.scope ?? '', client_id: token.clientId });
}

async function handleControl(req, res) {
  let body;
  try {
    body = JSON.parse(await readBody(req) || '{}');
  } catch {
    sendJson(res, 400, { error: 'invalid_request', error_description: 'body must be JSON' });
    return;
  }
  if (body?.mode !== 'approve' && body?.mode !== 'deny') {
    sendJson(res, 400, { error: 'invalid_request', error_description: 'mode must be "approve" or "deny"' });
    return;
  }
  consentMode = body.mode;
  log(`consent mode: ${consentMode}`);
  sendJson(res, 200, { mode: consentMode });
}

// Approves or denies a device flow's user code as its user would on the verification page:
// approval records a grant for the account with the requested scopes, denial the error
// `access_denied`, both on the device code, where the token endpoint's next poll finds them.
async function handleDeviceControl(req, res) {
  let body;
  try {
    body = JSON.parse(await readBody(req) || '{}');
  } catch {
    sendJson(res, 400, { error: 'invalid_request', error_description: 'body must be JSON' });
    return;
  }
  if (typeof body?.user_code !== 'string' || (body.mode !== 'approve' && body.mode !== 'deny')) {
    sendJson(res, 400, { error: 'invalid_request', error_description: 'give user_code and mode "approve" or "deny"' });
    return;
  }
  const userCode = body.user_code.toUpperCase().replace(/\W/g, '');
  const code = await provider.DeviceCode.findByUserCode(userCode);
  if (!code || code.accountId || code.error) {
    sendJson(res, 404, { error: 'not_found' });
    return;
  }
  if (body.mode === 'deny') {
    Object.assign(code, { error: 'access_denied', errorDescription: 'denied (conformance control)' });
  } else {
    const requested = String(code.params?.scope ?? '').split(' ').filter(Boolean);
    const grant = new provider.Grant({ accountId: ACCOUNT_ID, clientId: code.clientId });
    const oidc = requested.filter((s) => OIDC_SCOPES.has(s));
    if (oidc.length) grant.addOIDCScope(oidc.join(' '));
    const rs = requested.filter((s) => RESOURCE_SCOPES.has(s));
    if (rs.length) grant.addResourceScope(RESOURCE, rs.join(' '));
    const grantId = await grant.save();
    Object.assign(code, {
      accountId: ACCOUNT_ID,
      authTime: Math.floor(Date.now() / 1000),
      grantId,
      scope: [...oidc, ...rs].join(' '),
      resource: RESOURCE,
    });
  }
  await code.save();
  sendJson(res, 200, { mode: body.mode });
}

const providerCallback = provider.callback();

const server = http.createServer(async (req, res) => {
  const { pathname } = new URL(req.url, ISSUER);
  try {
    if (req.method === 'GET' && /^\/interaction\/[^/]+$/.test(pathname)) {
      await handleInteraction(req, res);
    } else if (pathname === '/resource' && req.method === 'GET') {
      await handleResource(req, res);
    } else if (pathname === '/__control/consent' && req.method === 'POST') {
      await handleControl(req, res);
    } else if (pathname === '/__control/device' && req.method === 'POST') {
      await handleDeviceControl(req, res);
    } else {
      providerCallback(req, res);
    }
  } catch (err) {
    log('handler error', err?.stack ?? err);
    if (!res.headersSent) {
      sendJson(res, err?.statusCode ?? 500, {
        error: err?.error ?? 'server_error',
        error_description: err?.error_description ?? String(err?.message ?? err),
      });
    } else {
      res.end();
    }
  }
});

server.listen(PORT, HOST, () => {
  process.stdout.write(`READY ${ISSUER}\n`);
});

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
