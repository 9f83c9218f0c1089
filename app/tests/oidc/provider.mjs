// A real OpenID Provider for the tests: panva's certified oidc-provider, with its
// development login and consent pages. Configured from OIDC_TEST_CONFIG (JSON):
// {"port": 0, "issuer": "...", "client_id", "client_secret", "redirect_uris": [...],
//  "accounts": {"<login>": {"email": "...", "email_verified": true}}}
// Prints "listening <port>" once it accepts connections.
import Provider from 'oidc-provider';

const cfg = JSON.parse(process.env.OIDC_TEST_CONFIG);

const provider = new Provider(cfg.issuer, {
  clients: [
    {
      client_id: cfg.client_id,
      client_secret: cfg.client_secret,
      redirect_uris: cfg.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // Put the email claims into the ID token as well as userinfo.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['hearth-test-only-cookie-key'] },
  async findAccount(ctx, id) {
    const account = cfg.accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...account };
      },
    };
  },
});

const server = provider.listen(cfg.port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
