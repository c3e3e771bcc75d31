/**
 * niobot's OAuth 2.0 client (oauth4webapi) against a real, certified
 * authorization server: oidc-provider, configured with the Matrix scopes,
 * dynamic client registration, the device flow and refresh token rotation.
 * The test plays the operator's browser: it enters the user code on the
 * provider's own device pages and completes the login and consent interaction.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import Provider from "oidc-provider";
import { MatrixError } from "../../src/api/errors.js";
import { MATRIX_API_SCOPE, matrixScope, registerClient } from "../../src/auth/oauth/client.js";
import { startDeviceAuthorization } from "../../src/auth/oauth/device-grant.js";
import { discoverIssuer, type AuthServer } from "../../src/auth/oauth/issuer.js";
import { oauthRefresher, refreshAt } from "../../src/auth/oauth/refresh.js";
import { SessionAuth } from "../../src/auth/session.js";
import { SessionLostError } from "../../src/auth/tokens.js";
import { silentLogger } from "../../src/logging/logger.js";

const DEVICES = ["NIOBOTTEST01", "NIOBOTTEST02"];
let server: Server;
let issuer: string;
let provider: Provider;

before(async () => {
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider = new Provider(issuer, {
    scopes: ["openid", "offline_access", MATRIX_API_SCOPE, ...DEVICES.map((d) => `urn:matrix:client:device:${d}`)],
    features: {
      registration: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      devInteractions: { enabled: false },
    },
    // The Matrix spec: a refresh token with every grant, rotated on use.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: true,
    ttl: { AccessToken: 300, DeviceCode: 600, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  });
  provider.on("server_error", (_ctx, error) => console.error("oidc-provider:", error));
  const callback = provider.callback();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith("/interaction/")) void approve(req, res);
    else callback(req, res);
  });
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The operator's login and consent: accepts as "alice" and grants what was asked. */
async function approve(req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const details = await provider.interactionDetails(req, res);
    const accountId = "alice";
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error));
  }
}

/** A minimal browser: follows redirects by hand, keeping cookies. */
class Browser {
  readonly #cookies = new Map<string, string>();
  async go(url: string, form?: Record<string, string>): Promise<{ url: string; html: string }> {
    let method = form ? "POST" : "GET";
    let body: string | undefined = form ? new URLSearchParams(form).toString() : undefined;
    for (let hops = 0; hops < 20; hops++) {
      const response = await fetch(url, {
        method,
        redirect: "manual",
        body,
        headers: { cookie: [...this.#cookies].map(([k, v]) => `${k}=${v}`).join("; "), ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
      });
      for (const cookie of response.headers.getSetCookie()) {
        const [pair] = cookie.split(";");
        const eq = pair!.indexOf("=");
        this.#cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        url = new URL(location, url).href;
        method = "GET";
        body = undefined;
        continue;
      }
      return { url, html: await response.text() };
    }
    throw new Error("too many redirects");
  }
}

/** Enters the user code on the provider's device pages, confirms, and passes the interaction. */
async function operatorApproves(verificationUri: string, userCode: string): Promise<string> {
  const browser = new Browser();
  const page = await browser.go(verificationUri);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.html)?.[1];
  assert.ok(xsrf, "the device page has a form");
  const confirm = await browser.go(new URL("/device", issuer).href, { xsrf, user_code: userCode });
  const xsrf2 = /name="xsrf" value="([^"]+)"/.exec(confirm.html)?.[1];
  const done = xsrf2 ? await browser.go(new URL("/device", issuer).href, { xsrf: xsrf2, user_code: userCode, confirm: "yes" }) : confirm;
  return done.html;
}

describe("OAuth 2.0 client against oidc-provider", () => {
  let as: AuthServer;
  let clientId: string;

  test("discovery and dynamic client registration", async () => {
    as = await discoverIssuer(issuer);
    assert.equal(as.issuer, issuer);
    assert.ok(as.device_authorization_endpoint && as.token_endpoint && as.registration_endpoint);
    clientId = await registerClient(as, { clientUri: "https://github.com/niobot/niobot" });
    assert.ok(clientId.length > 0);
  });

  test("device grant, refresh with rotation, and a reused refresh token refused", async () => {
    const started = await startDeviceAuthorization(as, clientId, DEVICES[0]!);
    assert.ok(started.userCode && started.verificationUri.startsWith(issuer));
    const waiting = started.wait();
    const page = await operatorApproves(started.verificationUri, started.userCode);
    assert.match(page, /success|signed in|sign-in/i, "the provider showed its success page");
    const tokens = await waiting;
    assert.ok(tokens.accessToken && tokens.refreshToken && tokens.expiresAt !== undefined);
    assert.equal(tokens.deviceId, DEVICES[0], "the granted scope names the device");
    assert.ok(tokens.scope?.split(" ").includes(MATRIX_API_SCOPE));

    const rotated = await refreshAt(as, clientId, tokens.refreshToken!);
    assert.notEqual(rotated.refreshToken, tokens.refreshToken, "the refresh token was rotated");
    assert.notEqual(rotated.accessToken, tokens.accessToken);
    assert.equal(rotated.deviceId, DEVICES[0], "a refresh keeps the device");

    const reused = await refreshAt(as, clientId, tokens.refreshToken!).then(() => undefined, (e: unknown) => e);
    assert.ok(reused instanceof MatrixError, "a refresh token reused after rotation is refused");
    assert.equal(reused.status, 400);
    assert.match(reused.message, /invalid_grant/);
    assert.equal(reused.isTransient, false);
  });

  test("re-authorizing with the same device id keeps the device", async () => {
    const again = await startDeviceAuthorization(as, clientId, DEVICES[0]!);
    const waiting = again.wait();
    await operatorApproves(again.verificationUri, again.userCode);
    const tokens = await waiting;
    assert.equal(tokens.deviceId, DEVICES[0]);
    assert.equal(matrixScope(DEVICES[0]!).split(" ").length, 2, "exactly one device scope is asked for");
  });

  test("a session refreshes at the token endpoint, persisting first; a refused refresh ends it with one clear error", async () => {
    const started = await startDeviceAuthorization(as, clientId, DEVICES[1]!);
    const waiting = started.wait();
    await operatorApproves(started.verificationUri, started.userCode);
    const tokens = await waiting;
    const persisted: string[] = [];
    const auth = new SessionAuth({
      // Already due: the next request refreshes first.
      tokens: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: Date.now() },
      refresh: oauthRefresher(issuer, clientId),
      persist: async (t) => void persisted.push(t.accessToken),
      lostWithoutRelogin: "refresh-refused",
      log: silentLogger,
    });
    const fresh = await auth.accessToken();
    assert.notEqual(fresh, tokens.accessToken);
    assert.deepEqual(persisted, [fresh], "persisted before it was handed out");
    // Someone spends the current refresh token (a stale replica, a leaked copy): the next renewal is refused.
    await refreshAt(as, clientId, auth.tokens.refreshToken!);
    const rejection = new MatrixError({ method: "GET", path: "/_matrix/client/v3/sync" }, 401, { errcode: "M_UNKNOWN_TOKEN", soft_logout: false });
    const lost = await auth.rejected(fresh, rejection).then(() => undefined, (e: unknown) => e);
    assert.ok(lost instanceof SessionLostError);
    assert.equal(lost.reason, "refresh-refused");
    assert.match(lost.message, /niobot login --oauth/);
    await assert.rejects(async () => auth.accessToken(), SessionLostError, "the session stays lost");
  });
});
