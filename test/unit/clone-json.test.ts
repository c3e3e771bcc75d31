/**
 * `cloneJson`, the copy the message cache makes of every event it keeps: the same result as
 * `structuredClone` (which it replaces on the hot path), for any JSON value and for the odd
 * non-JSON values a bot's own content may hold.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { cloneJson } from "../../src/util/record.js";

describe("cloneJson", () => {
  test("equals structuredClone for any JSON value, and shares nothing with the original", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const copy = cloneJson(value);
        assert.deepStrictEqual(copy, structuredClone(value));
        if (typeof value === "object" && value !== null) assert.notEqual(copy, value);
      }),
    );
  });

  test("a copy's nested objects are new: changing them leaves the original alone", () => {
    const event = { type: "m.room.message", content: { body: "hi", "m.relates_to": { "m.in_reply_to": { event_id: "$a" } } }, list: [{ a: 1 }] };
    const copy = cloneJson(event);
    copy.content["m.relates_to"]["m.in_reply_to"].event_id = "$b";
    copy.list[0]!.a = 2;
    assert.equal(event.content["m.relates_to"]["m.in_reply_to"].event_id, "$a");
    assert.equal(event.list[0]!.a, 1);
  });

  test("an own __proto__ key from JSON.parse stays a key and does not re-prototype the copy", () => {
    const hostile = JSON.parse('{"content":{"__proto__":{"polluted":true},"body":"x"}}') as { content: Record<string, unknown> };
    const copy = cloneJson(hostile);
    assert.equal(Object.getPrototypeOf(copy.content), Object.prototype);
    assert.equal((copy.content as { polluted?: boolean }).polluted, undefined);
    assert.deepEqual(Object.keys(copy.content), ["__proto__", "body"]);
    assert.deepEqual(Object.getOwnPropertyDescriptor(copy.content, "__proto__")?.value, { polluted: true });
  });

  test("nesting far deeper than the fast path and non-JSON values are copied as structuredClone does", () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < 2000; i++) deep = [deep];
    const copy = cloneJson({ deep });
    assert.notEqual(copy.deep, deep);
    assert.equal(JSON.stringify(copy), JSON.stringify({ deep }));
    const sparse = [1, 2, 3];
    delete sparse[1];
    const odd = { when: new Date(5), bytes: new Uint8Array([1, 2]), sparse, missing: undefined };
    assert.deepStrictEqual(cloneJson(odd), structuredClone(odd));
  });
});
