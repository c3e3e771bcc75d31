import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  addDirectRoom,
  directPartnersOf,
  directRoomsFor,
  forgetDirectRoom,
  parseDirect,
  removeDirectRoom,
} from "../../src/dm/mdirect.js";

const BOB = "@bob:example.org";
const CAROL = "@carol:example.org";

describe("parseDirect", () => {
  it("keeps well-formed entries", () => {
    assert.deepEqual(parseDirect({ [BOB]: ["!a:x", "!b:x"] }), { [BOB]: ["!a:x", "!b:x"] });
  });

  it("tolerates junk", () => {
    for (const raw of [null, undefined, 42, "x", [], [["@a:x", ["!r:x"]]]]) assert.deepEqual(parseDirect(raw), {});
    assert.deepEqual(
      parseDirect({ [BOB]: ["!a:x", 7, null, "!a:x", { r: 1 }, "!b:x"], [CAROL]: "!c:x", junk: ["!d:x"], "@d:x": null }),
      { [BOB]: ["!a:x", "!b:x"] },
    );
  });
});

describe("addDirectRoom", () => {
  it("appends, keeping order, other users and unknown keys verbatim", () => {
    const current = { [BOB]: ["!a:x"], [CAROL]: ["!c:x", 5], "com.example.junk": { deep: [1] }, "@weird:x": "not-a-list" };
    const { content, changed } = addDirectRoom(current, BOB, "!b:x");
    assert.equal(changed, true);
    assert.deepEqual(content, { [BOB]: ["!a:x", "!b:x"], [CAROL]: ["!c:x", 5], "com.example.junk": { deep: [1] }, "@weird:x": "not-a-list" });
    assert.equal(content["com.example.junk"], current["com.example.junk"], "untouched values are the same objects");
    assert.deepEqual(current[BOB], ["!a:x"], "input not mutated");
  });

  it("does nothing when the room is already listed", () => {
    const current = { [BOB]: ["!a:x", 3, "!a:x"] };
    const { content, changed } = addDirectRoom(current, BOB, "!a:x");
    assert.equal(changed, false);
    assert.deepEqual(content, current);
    assert.notEqual(content, current, "a copy, safe to mutate");
  });

  it("creates the user's list, and replaces a junk value", () => {
    assert.deepEqual(addDirectRoom(undefined, BOB, "!a:x"), { content: { [BOB]: ["!a:x"] }, changed: true });
    assert.deepEqual(addDirectRoom({ [BOB]: "!old:x" }, BOB, "!a:x"), { content: { [BOB]: ["!a:x"] }, changed: true });
  });

  it("cleans only the list it writes (junk entries and duplicates dropped)", () => {
    assert.deepEqual(addDirectRoom({ [BOB]: ["!a:x", 1, "!a:x"] }, BOB, "!b:x").content, { [BOB]: ["!a:x", "!b:x"] });
  });

  it("preserves an own __proto__ key without touching the prototype", () => {
    const current = JSON.parse('{"__proto__": ["!x:x"], "@bob:example.org": []}') as unknown;
    const { content } = addDirectRoom(current, BOB, "!a:x");
    assert.equal(Object.getPrototypeOf(content), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(content, "__proto__")?.value, ["!x:x"]);
    assert.equal(JSON.stringify(content), '{"__proto__":["!x:x"],"@bob:example.org":["!a:x"]}');
  });

  it("never loses an existing (user, room) pair, and adds the new one exactly once", () => {
    const userId = fc.constantFrom("@a:x", "@b:x", "@c:x");
    const roomId = fc.constantFrom("!1:x", "!2:x", "!3:x", "!4:x");
    const junk = fc.oneof(fc.integer(), fc.constant(null), fc.string(), fc.dictionary(fc.string(), fc.integer()));
    const list = fc.array(fc.oneof(roomId, junk));
    const content = fc.dictionary(fc.oneof(userId, fc.string()), fc.oneof(list, junk));
    fc.assert(
      fc.property(content, userId, roomId, (current, user, room) => {
        const { content: next, changed } = addDirectRoom(current, user, room);
        const before = parseDirect(current);
        const after = parseDirect(next);
        for (const [u, rooms] of Object.entries(before)) {
          for (const r of rooms) assert.ok(after[u]?.includes(r), `lost (${u}, ${r})`);
        }
        assert.equal(after[user]?.filter((r) => r === room).length, 1);
        assert.equal(changed, !(before[user]?.includes(room) ?? false));
        for (const key of Object.keys(current)) {
          if (key !== user) assert.equal(next[key], current[key], `key ${key} changed`);
        }
        assert.deepEqual(addDirectRoom(next, user, room).changed, false, "idempotent");
      }),
      { numRuns: 500 },
    );
  });
});

describe("removeDirectRoom / forgetDirectRoom", () => {
  it("removes only that room for that user, keeping everything else", () => {
    const current = { [BOB]: ["!a:x", "!b:x"], [CAROL]: ["!a:x"], other: true };
    assert.deepEqual(removeDirectRoom(current, BOB, "!a:x"), { content: { [BOB]: ["!b:x"], [CAROL]: ["!a:x"], other: true }, changed: true });
  });

  it("drops the key when the list becomes empty", () => {
    assert.deepEqual(removeDirectRoom({ [BOB]: ["!a:x", "!a:x"], other: 1 }, BOB, "!a:x"), { content: { other: 1 }, changed: true });
  });

  it("reports no change when absent", () => {
    assert.deepEqual(removeDirectRoom({ [BOB]: ["!a:x"] }, BOB, "!z:x"), { content: { [BOB]: ["!a:x"] }, changed: false });
    assert.deepEqual(removeDirectRoom(null, BOB, "!z:x"), { content: {}, changed: false });
    assert.deepEqual(removeDirectRoom({ [BOB]: 5 }, BOB, "!z:x"), { content: { [BOB]: 5 }, changed: false });
  });

  it("forgets a room for every user but leaves unknown keys alone", () => {
    const current = { [BOB]: ["!a:x", "!b:x"], [CAROL]: ["!a:x"], "x.unknown": ["!a:x"] };
    assert.deepEqual(forgetDirectRoom(current, "!a:x"), { content: { [BOB]: ["!b:x"], "x.unknown": ["!a:x"] }, changed: true });
    assert.equal(forgetDirectRoom(current, "!nope:x").changed, false);
  });
});

describe("lookups", () => {
  const data = { [BOB]: ["!a:x", 1], [CAROL]: ["!a:x", "!c:x"], junk: 1 };
  it("directRoomsFor", () => {
    assert.deepEqual(directRoomsFor(data, BOB), ["!a:x"]);
    assert.deepEqual(directRoomsFor(data, "@nobody:x"), []);
  });
  it("directPartnersOf", () => {
    assert.deepEqual(directPartnersOf(data, "!a:x"), [BOB, CAROL]);
    assert.deepEqual(directPartnersOf(data, "!c:x"), [CAROL]);
  });
});
