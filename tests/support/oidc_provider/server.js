// A real OpenID Provider (npm `oidc-provider`) for Tollgate's SSO tests, on loopback.
//
// Usage:  node server.js '<config JSON>'   |   node server.js path/to/config.json
//         node server.js < config.json      (the config is the first line of stdin)
//
// Config: {
//   "port": 0,                         // 0 = any free port (the issuer then follows the real port)
//   "host": "127.0.0.1",               // optional
//   "issuer": "http://127.0.0.1:9000", // optional; default http://<host>:<port>
//   "clients": [{"client_id", "client_secret", "redirect_uris", ...more client metadata}],
//   "accounts": [{"sub", "email", "email_verified", "name"}],
//   "jwks": {"keys": [<private RSA JWK>]}, // signing keys; the first one signs ID tokens
//   "ttl": {"AccessToken": 300, "AuthorizationCode": 60, "IdToken": 300, ...}   // optional, seconds
// }
//
// Login is non-interactive: the interaction handler logs in the account whose email (or sub)
// equals the authorization request's `login_hint` and grants every requested scope and claim.
// An unknown or missing login_hint ends the request with `error=access_denied` at the client.
//
// When listening it prints one JSON line {"issuer": ..., "port": ...} on stdout. It exits when
// stdin closes (the parent went away) or on SIGTERM/SIGINT. (If stdin was already at EOF when the
// config was read, as with `node server.js < config.json`, only a signal stops it.)

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';

import Provider from 'oidc-provider';

const DEFAULT_TTL = {
  AccessToken: 300,
  AuthorizationCode: 60,
  ClientCredentials: 300,
  IdToken: 300,
  Interaction: 300,
  Grant: 600,
  Session: 600,
  RefreshToken: 600,
};

async function readConfig() {
  const arg = process.argv[2];
  if (arg !== undefined && arg !== '-') {
    return JSON.parse(arg.trimStart().startsWith('{') ? arg : readFileSync(arg, 'utf8'));
  }
  // The first line of stdin is the config; stdin then stays open as the lifeline (no async
  // iterator here: leaving one early would destroy the stream).
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline !== -1) {
        cleanup();
        try {
          resolve(JSON.parse(buffered.slice(0, newline)));
        } catch (err) {
          reject(err);
        }
      }
    };
    const onEnd = () => {
      cleanup();
      if (buffered.trim()) {
        try {
          resolve(JSON.parse(buffered));
        } catch (err) {
          reject(err);
        }
      } else {
        reject(new Error('no config: pass it as argv[2] or as the first line of stdin'));
      }
    };
    function cleanup() {
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
    }
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', onData);
    process.stdin.on('end', onEnd);
  });
}

function validateConfig(config) {
  if (!Array.isArray(config.clients) || config.clients.length === 0) {
    throw new Error('config.clients must be a non-empty array');
  }
  if (!Array.isArray(config.accounts)) {
    throw new Error('config.accounts must be an array');
  }
  const keys = config.jwks?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((key) => !key.d)) {
    throw new Error('config.jwks.keys must hold at least one private JWK');
  }
}

function buildProvider(config, issuer) {
  const accountsBySub = new Map();
  const accountsByHint = new Map();
  for (const account of config.accounts) {
    accountsBySub.set(String(account.sub), account);
    accountsByHint.set(String(account.sub), account);
    if (account.email) {
      accountsByHint.set(String(account.email).toLowerCase(), account);
    }
  }

  const clients = config.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: client.client_secret ? 'client_secret_basic' : 'none',
    ...client,
  }));

  const signingAlg = config.jwks.keys[0].alg ?? 'RS256';

  const configuration = {
    clients,
    jwks: config.jwks,
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: signingAlg,
    },
    enabledJWA: {
      idTokenSigningAlgValues: [...new Set([signingAlg, 'RS256', 'PS256', 'ES256', 'EdDSA'])],
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // Put the scope's claims (email, email_verified, name) into the ID token as well, not only
    // into userinfo.
    conformIdTokenClaims: false,
    // PKCE (S256 only, the library default) for every client, public or confidential.
    pkce: { required: () => true },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    ttl: { ...DEFAULT_TTL, ...(config.ttl ?? {}) },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
      claimsParameter: { enabled: true },
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async findAccount(_ctx, sub) {
      const account = accountsBySub.get(String(sub));
      if (!account) {
        return undefined;
      }
      return {
        accountId: String(account.sub),
        async claims() {
          const claims = { sub: String(account.sub) };
          for (const name of ['email', 'email_verified', 'name']) {
            if (account[name] !== undefined) {
              claims[name] = account[name];
            }
          }
          return claims;
        },
      };
    },
    // Consent is automatic: the grant always covers what the request asks for.
    async loadExistingGrant(ctx) {
      const { provider, session, client, account } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      let grant = grantId ? await provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== account.accountId) {
        grant = new provider.Grant({ accountId: account.accountId, clientId: client.clientId });
      }
      grantRequested(grant, ctx.oidc.requestParamOIDCScopes, ctx.oidc.requestParamClaims);
      await grant.save();
      return grant;
    },
    async renderError(ctx, out) {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  };

  const provider = new Provider(issuer, configuration);
  provider.proxy = false;
  return { provider, accountsByHint };
}

function grantRequested(grant, scopes, claims) {
  const scope = [...scopes].join(' ');
  if (scope) {
    grant.addOIDCScope(scope);
  }
  if (claims?.size) {
    grant.addOIDCClaims([...claims]);
  }
}

function sendJson(res, status, body) {
  const payload = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  res.end(payload);
}

async function handleInteraction(provider, accountsByHint, req, res) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    sendJson(res, 400, { error: err.error ?? 'invalid_request', error_description: err.message });
    return;
  }
  const { prompt, params, session } = details;
  const finish = (result, merge = true) => provider.interactionFinished(
    req,
    res,
    result,
    { mergeWithLastSubmission: merge },
  );

  if (prompt.name === 'login') {
    const hint = typeof params.login_hint === 'string' ? params.login_hint.toLowerCase() : '';
    const account = accountsByHint.get(hint) ?? accountsByHint.get(params.login_hint);
    if (!account) {
      await finish({
        error: 'access_denied',
        error_description: hint ? 'unknown login_hint' : 'login_hint is required',
      }, false);
      return;
    }
    await finish({ login: { accountId: String(account.sub) } }, false);
    return;
  }

  if (prompt.name === 'consent') {
    // loadExistingGrant normally settles consent; this covers anything it did not.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) {
      grant.addOIDCScope(missingOIDCScope.join(' '));
    }
    if (missingOIDCClaims) {
      grant.addOIDCClaims(missingOIDCClaims);
    }
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await finish({ consent: { grantId } });
    return;
  }

  await finish({ error: 'access_denied', error_description: `unsupported prompt ${prompt.name}` }, false);
}

async function main() {
  const config = await readConfig();
  validateConfig(config);
  const host = config.host ?? '127.0.0.1';

  let handler = (_req, res) => sendJson(res, 503, { error: 'starting' });
  const server = http.createServer((req, res) => handler(req, res));
  server.listen(config.port ?? 0, host);
  await once(server, 'listening');
  const { port } = server.address();
  const issuer = config.issuer ?? `http://${host}:${port}`;

  const { provider, accountsByHint } = buildProvider(config, issuer);
  provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error', err));
  const callback = provider.callback();
  handler = (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      handleInteraction(provider, accountsByHint, req, res).catch((err) => {
        console.error('interaction failed', err);
        if (!res.headersSent) {
          sendJson(res, 500, { error: 'server_error', error_description: err.message });
        }
      });
      return;
    }
    callback(req, res);
  };

  let stopping = false;
  const stop = () => {
    if (stopping) {
      return;
    }
    stopping = true;
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();

  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
