/**
 * Matrix identifiers and links (src/ids/), checked against the spec's "Appendices":
 * "Identifier Grammar" and "URIs". Strings in quotes below are the spec's own examples.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import {
  decodeHtmlEntities,
  eventPermalink,
  isEventId,
  isMxcUri,
  isRoomAlias,
  isRoomId,
  isServerName,
  isUserId,
  matrixToLink,
  matrixUri,
  parseMatrixLink,
  parseMxcUri,
  parseRoomId,
  parseServerName,
  parseUserId,
  userIdFromPermalink,
  userIdsInText,
  userPermalink,
  type MatrixLink,
} from "../../src/ids/index.js";
import { isRecord } from "../../src/util/record.js";

describe("server names (Appendices: Server Name)", () => {
  test("the spec's examples of valid server names", () => {
    assert.deepEqual(parseServerName("matrix.org"), { host: "matrix.org", kind: "dns" });
    assert.deepEqual(parseServerName("matrix.org:8888"), { host: "matrix.org", kind: "dns", port: 8888 });
    assert.deepEqual(parseServerName("1.2.3.4"), { host: "1.2.3.4", kind: "ipv4" }); // IPv4 literal
    assert.deepEqual(parseServerName("1.2.3.4:1234"), { host: "1.2.3.4", kind: "ipv4", port: 1234 }); // with explicit port
    assert.deepEqual(parseServerName("[1234:5678::abcd]"), { host: "[1234:5678::abcd]", kind: "ipv6" }); // IPv6 literal
    assert.deepEqual(parseServerName("[1234:5678::abcd]:5678"), { host: "[1234:5678::abcd]", kind: "ipv6", port: 5678 });
  });

  test("IPv6 literals as RFC 3513 section 2.2 writes them", () => {
    for (const ok of ["[::1]", "[::]", "[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7::]", "[::ffff:1.2.3.4]", "[1:2:3:4:5:6:1.2.3.4]", "[FEDC:BA98::3210]"])
      assert.ok(isServerName(ok), ok);
    for (const bad of ["[]", "[:]", "[1::2::3]", "[:::]", "[1:2:3:4:5:6:7:8:9]", "[1:2:3:4:5:6:7]", "[12345::]", "[g::1]", "[::1.2.3.256]", "[1.2.3.4]", "[::1", "::1", "[::1]x"])
      assert.ok(!isServerName(bad), bad);
  });

  test("ports are 1 to 5 digits; IPv4 numbers are 0 to 255; DNS names are letters, digits, - and .", () => {
    for (const bad of ["", "matrix.org:", ":8448", "matrix.org:123456", "matrix.org:80a", "256.1.2.3", "1.2.3.4.5:x", "exa mple.org", "matrix_org", "ma/trix.org", "é.org"])
      assert.ok(!isServerName(bad), bad);
    // A name with four parts that are not all numbers is a DNS name, whatever its digits.
    assert.equal(parseServerName("1.2.3.a")?.kind, "dns");
    assert.ok(isServerName("a".repeat(255)));
    assert.ok(!isServerName("a".repeat(256)));
  });

  test("server names are case-sensitive: nothing is lower-cased", () => {
    // "`@user:matrix.org` is a different person from `@user:MATRIX.ORG`"
    assert.equal(parseServerName("MATRIX.ORG")?.host, "MATRIX.ORG");
    assert.equal(parseUserId("@user:MATRIX.ORG")?.serverName, "MATRIX.ORG");
  });
});

describe("user IDs (Appendices: User Identifiers, Historical User IDs)", () => {
  test("the current grammar: a-z, 0-9, - . = _ / +", () => {
    assert.deepEqual(parseUserId("@user:matrix.org"), { localpart: "user", serverName: "matrix.org", historical: false });
    assert.deepEqual(parseUserId("@a.b_c=d-e/f+g:[::1]:8448"), { localpart: "a.b_c=d-e/f+g", serverName: "[::1]:8448", historical: false });
    assert.equal(parseUserId("@alice:1.2.3.4:1234")?.serverName, "1.2.3.4:1234");
  });

  test("historical localparts (printable ASCII but `:`) are accepted and marked", () => {
    for (const id of ["@USER:matrix.org", "@Historical!:1.2.3.4", "@a*b:x.org", "@~#$%:x.org"]) {
      assert.equal(parseUserId(id)?.historical, true, id);
      assert.ok(isUserId(id), id);
    }
  });

  test("non-compliant and malformed IDs are refused", () => {
    // "User IDs with localparts containing characters outside the range U+0021 to U+007E,
    // or with an empty localpart, are considered non-compliant."
    for (const id of ["@:x.org", "@a b:x.org", "@\u0000:x.org", "@é:x.org", "@\t:x.org"]) assert.ok(!isUserId(id), JSON.stringify(id));
    for (const id of ["alice", "@alice", "alice:x.org", "!r:x.org", "@a:", "@a:x.org:", "@a:exa mple.org", "@@a:x.org:80:80"]) assert.ok(!isUserId(id), id);
  });

  test("at most 255 bytes, sigil and server name included", () => {
    const server = ":x.org";
    assert.ok(isUserId(`@${"a".repeat(255 - 1 - server.length)}${server}`));
    assert.ok(!isUserId(`@${"a".repeat(256 - 1 - server.length)}${server}`));
  });
});

describe("room IDs, aliases and event IDs (Appendices: Room IDs, Room Aliases, Event IDs)", () => {
  test("room IDs with and without a server name", () => {
    assert.deepEqual(parseRoomId("!somewhere:example.org"), { opaque: "somewhere", serverName: "example.org" });
    // Room version 12: the create event's ID with `!` as the sigil, no server name.
    assert.deepEqual(parseRoomId("!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM"), { opaque: "31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM" });
    for (const bad of ["!", "!:example.org", "!a:", "!a:exa mple.org", "!a b:x.org", "#somewhere:example.org", "somewhere", `!${"a".repeat(255)}`])
      assert.ok(!isRoomId(bad), bad);
  });

  test("room aliases, any localpart but `:`; 255 bytes counted in UTF-8", () => {
    for (const ok of ["#somewhere:example.org", "#café:example.org", "#a/b:[::1]:8448"]) assert.ok(isRoomAlias(ok), ok);
    for (const bad of ["#somewhere", "#:example.org", "#a:b:c", "#a b:x.org", "!somewhere:example.org"]) assert.ok(!isRoomAlias(bad), bad);
    const server = ":x.org";
    const fits = `#${"é".repeat((255 - 1 - server.length) >> 1)}${server}`; // 2 bytes each: 254 bytes
    assert.ok(isRoomAlias(fits));
    assert.ok(!isRoomAlias(fits.replace("#", "#ab")), "256 bytes, though only 131 characters");
  });

  test("event IDs: `$opaque_id` (any room version), at most 255 bytes", () => {
    for (const ok of ["$event:example.org", "$event", "$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk", "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"])
      assert.ok(isEventId(ok), ok);
    for (const bad of ["$", "event", "$a b", "$é", `$${"a".repeat(255)}`]) assert.ok(!isEventId(bad), bad);
  });

  test("mxc:// URIs: a server name and a media ID of [A-Za-z0-9_-]", () => {
    assert.deepEqual(parseMxcUri("mxc://example.org/abc_DEF-123"), { serverName: "example.org", mediaId: "abc_DEF-123" });
    assert.ok(isMxcUri("mxc://[::1]:8448/a"));
    for (const bad of ["mxc://example.org/", "mxc://example.org/a/b", "mxc:///a", "mxc://x org/a", "mxc://example.org/a.png", "http://example.org/a"])
      assert.ok(!isMxcUri(bad), bad);
  });
});

describe("matrix: URIs (Appendices: Matrix URI scheme)", () => {
  const examples: [string, MatrixLink][] = [
    ["matrix:r/somewhere:example.org", { kind: "room", roomIdOrAlias: "#somewhere:example.org", via: [] }],
    ["matrix:roomid/somewhere:example.org?via=elsewhere.ca", { kind: "room", roomIdOrAlias: "!somewhere:example.org", via: ["elsewhere.ca"] }],
    [
      "matrix:roomid/somewhere:example.org/e/event?via=elsewhere.ca",
      { kind: "event", roomIdOrAlias: "!somewhere:example.org", eventId: "$event", via: ["elsewhere.ca"] },
    ],
    ["matrix:u/alice:example.org?action=chat", { kind: "user", userId: "@alice:example.org" }],
  ];

  test("the spec's examples parse", () => {
    for (const [uri, link] of examples) assert.deepEqual(parseMatrixLink(uri), link, uri);
  });

  test("the spec's examples are what matrixUri writes", () => {
    for (const [uri, link] of examples) {
      const action = link.kind === "user" ? "chat" : undefined;
      assert.equal(matrixUri(link, action === undefined ? {} : { action }), uri);
    }
  });

  test("pre-release types, the reserved authority and fragment, several via", () => {
    assert.deepEqual(parseMatrixLink("matrix:user/alice:example.org"), { kind: "user", userId: "@alice:example.org" });
    assert.deepEqual(parseMatrixLink("matrix:room/somewhere:example.org"), { kind: "room", roomIdOrAlias: "#somewhere:example.org", via: [] });
    assert.deepEqual(parseMatrixLink("matrix:roomid/r:x.org/event/ev"), { kind: "event", roomIdOrAlias: "!r:x.org", eventId: "$ev", via: [] });
    assert.deepEqual(parseMatrixLink("matrix://example.org/u/alice:example.org#ignored"), { kind: "user", userId: "@alice:example.org" });
    assert.deepEqual(parseMatrixLink("matrix:roomid/r:x.org?via=a.org&action=join&via=b.org"), { kind: "room", roomIdOrAlias: "!r:x.org", via: ["a.org", "b.org"] });
  });

  test("what is not a link to a valid entity", () => {
    for (const bad of ["matrix:", "matrix:x/a:x.org", "matrix:e/ev", "matrix:u/a:x.org/e/ev", "matrix:r/a:x.org/x/ev", "matrix:u/", "matrix:u/a", "matrix:u/%E0%A4%A", "matrix://nowhere"])
      assert.equal(parseMatrixLink(bad), null, bad);
  });
});

describe("matrix.to links (Appendices: matrix.to navigation)", () => {
  const examples: [string, string, MatrixLink][] = [
    [
      "https://matrix.to/#/%23somewhere:example.org",
      "https://matrix.to/#/%23somewhere%3Aexample.org",
      { kind: "room", roomIdOrAlias: "#somewhere:example.org", via: [] },
    ],
    [
      "https://matrix.to/#/!somewhere:example.org?via=elsewhere.ca",
      "https://matrix.to/#/%21somewhere%3Aexample.org?via=elsewhere.ca",
      { kind: "room", roomIdOrAlias: "!somewhere:example.org", via: ["elsewhere.ca"] },
    ],
    [
      "https://matrix.to/#/!somewhere:example.org/$event:example.org?via=elsewhere.ca",
      "https://matrix.to/#/%21somewhere%3Aexample.org/%24event%3Aexample.org?via=elsewhere.ca",
      { kind: "event", roomIdOrAlias: "!somewhere:example.org", eventId: "$event:example.org", via: ["elsewhere.ca"] },
    ],
    ["https://matrix.to/#/@alice:example.org", "https://matrix.to/#/%40alice%3Aexample.org", { kind: "user", userId: "@alice:example.org" }],
  ];

  test("the spec's examples parse, in both encodings", () => {
    for (const [link, encoded, target] of examples) {
      assert.deepEqual(parseMatrixLink(link), target, link);
      assert.deepEqual(parseMatrixLink(encoded), target, encoded);
    }
  });

  test("the spec's examples are what matrixToLink writes", () => {
    for (const [link, , target] of examples) assert.equal(matrixToLink(target), link);
    assert.equal(eventPermalink("!somewhere:example.org", "$event:example.org", ["elsewhere.ca"]), examples[2]?.[0]);
    assert.equal(userPermalink("@alice:example.org"), examples[3]?.[0]);
  });

  test("an unencoded alias still works, and slashes are split before decoding", () => {
    // "an unencoded room alias should still work within the client if possible"
    assert.deepEqual(parseMatrixLink("https://matrix.to/#/#somewhere:example.org"), { kind: "room", roomIdOrAlias: "#somewhere:example.org", via: [] });
    // "decoding a matrix.to URI may result in extra slashes appearing": a `/` encoded inside an event ID stays in it.
    assert.deepEqual(parseMatrixLink("https://matrix.to/#/!r:x.org/%24ab%2Fcd"), { kind: "event", roomIdOrAlias: "!r:x.org", eventId: "$ab/cd", via: [] });
    assert.equal(matrixToLink({ kind: "event", roomIdOrAlias: "!r:x.org", eventId: "$ab/cd", via: [] }), "https://matrix.to/#/!r:x.org/$ab%2Fcd");
  });

  test("groups, other hosts, user links with an event, and junk are not links", () => {
    // "Historical matrix.to URIs pointing to groups ... `https://matrix.to/#/%2Bexample%3Aexample.org`"
    for (const bad of [
      "https://matrix.to/#/%2Bexample%3Aexample.org",
      "https://matrix.to/#/+example:example.org",
      "https://example.com/#/@a:x.org",
      "https://matrix.to/@a:x.org",
      "https://matrix.to/#/nothing",
      "https://matrix.to/#/%E0%A4%A",
      "https://matrix.to/#/!r:x.org/$e/extra",
      "https://matrix.to/#/@u:x.org/$e",
      `https://matrix.to/#/@${"a".repeat(5000)}:x.org`,
    ])
      assert.equal(parseMatrixLink(bad), null, bad.slice(0, 60));
  });

  test("userIdFromPermalink: only user links", () => {
    assert.equal(userIdFromPermalink("  https://matrix.to/#/%40alice%3Aexample.org "), "@alice:example.org");
    assert.equal(userIdFromPermalink("matrix:u/alice:example.org?action=chat"), "@alice:example.org");
    assert.equal(userIdFromPermalink("https://matrix.to/#/!somewhere:example.org"), undefined);
    assert.equal(userIdFromPermalink("https://matrix.to/#/@alice"), undefined);
  });

  test("any user ID, room ID or alias survives a round trip through both link forms", () => {
    const localChar = fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x3a).map((c) => String.fromCharCode(c));
    const localpart = fc.array(localChar, { minLength: 1, maxLength: 20 }).map((cs) => cs.join(""));
    const server = fc.constantFrom("x.org", "matrix.org:8448", "[::1]:8448", "1.2.3.4");
    const target = fc.oneof(
      fc.tuple(localpart, server).map(([l, s]): MatrixLink => ({ kind: "user", userId: `@${l}:${s}` })),
      fc.tuple(fc.constantFrom("#", "!"), localpart, server, fc.array(server, { maxLength: 3 })).map(([sigil, l, s, via]): MatrixLink => ({ kind: "room", roomIdOrAlias: `${sigil}${l}:${s}`, via })),
      fc.tuple(localpart, server, localpart).map(([l, s, e]): MatrixLink => ({ kind: "event", roomIdOrAlias: `!${l}:${s}`, eventId: `$${e}`, via: [] })),
    );
    fc.assert(
      fc.property(target, (t) => {
        assert.deepEqual(parseMatrixLink(matrixToLink(t)), t);
        assert.deepEqual(parseMatrixLink(matrixUri(t)), t);
      }),
      { numRuns: 500 },
    );
  });
});

describe("user IDs in text", () => {
  test("finds IDs in prose, not e-mail addresses nor neutralised mentions", () => {
    assert.deepEqual(userIdsInText("ping @alice:example.org, and mail bob@example.org."), ["@alice:example.org"]);
    assert.deepEqual(userIdsInText("(@a:x.org) @b:[::1]:8448 @C:x.org:80."), ["@a:x.org", "@b:[::1]:8448", "@C:x.org:80"]);
    assert.deepEqual(userIdsInText("@\u2060alice:example.org @alice @:x.org @a: x@a:x.org"), []);
  });

  test("a sentence's full stop is not part of the server name", () => {
    assert.deepEqual(userIdsInText("Ask @bob:example.org."), ["@bob:example.org"]);
    assert.deepEqual(userIdsInText("@a:x.org..@b:y.org."), ["@a:x.org", "@b:y.org"]);
  });
});

describe("HTML character references", () => {
  test("named and numeric references; unknown and invalid ones are left", () => {
    assert.equal(decodeHtmlEntities("a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#x27; &#x1F600; &AMP; &nbsp;"), `a & b <c> "d" 'e' 😀 & \u00a0`);
    assert.equal(decodeHtmlEntities("&bogus; &#0; &#xD800; &#x110000; &#99999999999; &amp"), "&bogus; &#0; &#xD800; &#x110000; &#99999999999; &amp");
  });
});

test("isRecord: JSON objects only", () => {
  assert.ok(isRecord({}));
  assert.ok(isRecord(Object.create(null)));
  for (const v of [null, undefined, [], "x", 1, () => 1]) assert.ok(!isRecord(v));
});

test("ids/ sits at the bottom of the layers: it imports nothing but itself", () => {
  const dir = resolve(import.meta.dirname, "../../src/ids");
  for (const file of readdirSync(dir)) {
    const source = readFileSync(resolve(dir, file), "utf8");
    for (const [, spec] of source.matchAll(/^(?:import|export)\b[^;]*?from "([^"]+)";/gms)) assert.match(spec ?? "", /^\.\/[a-z-]+\.js$/, `${file} imports ${spec}`);
  }
});
