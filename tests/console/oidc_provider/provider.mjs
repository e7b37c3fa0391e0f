// An OpenID Provider nobody here wrote (oidc-provider, OpenID Certified), configured as an organisation's IdP would
// be for the console: one confidential client, authorisation code with PKCE required, JWT access tokens for the
// platform's APIs (resource urn:ca.qc.rls:api, audience "rls") carrying the `org` and `roles` claims of the account.
import { generateKeyPairSync } from "node:crypto";
import http from "node:http";
import Provider from "oidc-provider";

const { PORT, REDIRECT_URI, CLIENT_SECRET, ACCOUNTS } = process.env;
const accounts = JSON.parse(ACCOUNTS); // { login: { org, roles } }
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const key = { ...privateKey.export({ format: "jwk" }), kid: "test-key", alg: "RS256", use: "sig" };

const provider = new Provider(`http://127.0.0.1:${PORT}`, {
  jwks: { keys: [key] },
  clients: [
    {
      client_id: "rls-console",
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => "urn:ca.qc.rls:api",
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "rls:use",
        audience: "rls",
        accessTokenFormat: "jwt",
        accessTokenTTL: 3600,
        jwt: { sign: { alg: "RS256" } },
      }),
    },
  },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id }; } };
  },
  async extraTokenClaims(ctx, token) {
    const account = accounts[token.accountId];
    return account ? { org: account.org, roles: account.roles } : {};
  },
});
http.createServer(provider.callback()).listen(Number(PORT), "127.0.0.1", () => console.log("listening"));
