/**
 * `.well-known` discovery: an https lookup must not be steered to a plain-http homeserver. The
 * transport is a recording stub that serves only the `.well-known` document (there is no https
 * homeserver in the test environment); any other request fails the test.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DiscoveryError, discoverHomeserver, wellKnownBaseUrl } from "../../src/api/discovery.js";
import type { FetchLike } from "../../src/api/http.js";

/** Serves `doc` at `https://example.org/.well-known/matrix/client`; records every other URL asked for. */
function wellKnownOnly(doc: unknown): { fetch: FetchLike; others: string[] } {
  const others: string[] = [];
  const fetch: FetchLike = async (input) => {
    if (input === "https://example.org/.well-known/matrix/client")
      return new Response(JSON.stringify(doc), { status: 200, headers: { "content-type": "application/json" } });
    others.push(input);
    throw new TypeError("fetch failed (not reachable in this test)");
  };
  return { fetch, others };
}

describe("discovery", () => {
  test("an https .well-known naming an http:// base URL is refused before anything is sent to it", async () => {
    const { fetch, others } = wellKnownOnly({ "m.homeserver": { base_url: "http://matrix.example.org" } });
    await assert.rejects(discoverHomeserver("example.org", { fetch }), (e: unknown) => {
      assert.ok(e instanceof DiscoveryError, String(e));
      assert.match(e.message, /refusing to downgrade from https to http/);
      return true;
    });
    assert.deepEqual(others, [], "nothing may be requested from the http:// URL");
    await assert.rejects(discoverHomeserver("https://example.org", { fetch }), /downgrade/);
  });

  test("an https .well-known naming an https base URL is followed", async () => {
    const { fetch, others } = wellKnownOnly({ "m.homeserver": { base_url: "https://matrix.example.org/" } });
    await assert.rejects(discoverHomeserver("example.org", { fetch }), /https:\/\/matrix\.example\.org does not answer/);
    assert.ok(others.length > 0 && others.every((u) => u === "https://matrix.example.org/_matrix/client/versions"), others.join(", "));
  });

  test("wellKnownBaseUrl: http only when the user chose http; invalid URLs and schemes refused", () => {
    assert.equal(wellKnownBaseUrl("https://example.org", "https://hs.example.org/"), "https://hs.example.org");
    assert.throws(() => wellKnownBaseUrl("https://example.org", "http://hs.example.org"), DiscoveryError);
    assert.throws(() => wellKnownBaseUrl("https://example.org", "HTTP://hs.example.org"), DiscoveryError);
    // Given directly as http:// (local development): no downgrade, so allowed.
    assert.equal(wellKnownBaseUrl("http://localhost:8008", "http://localhost:8008/"), "http://localhost:8008");
    assert.equal(wellKnownBaseUrl("HTTP://localhost", "http://127.0.0.1:8008"), "http://127.0.0.1:8008");
    assert.throws(() => wellKnownBaseUrl("https://example.org", "ftp://hs.example.org"), /invalid homeserver URL/);
    assert.throws(() => wellKnownBaseUrl("https://example.org", "not a url"), /invalid homeserver URL/);
  });
});
