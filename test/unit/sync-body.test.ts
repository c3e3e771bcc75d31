/**
 * The streaming `/sync` body reader (`src/api/sync-body.ts`): whatever the text and wherever the
 * chunks are cut, it gives what `JSON.parse` of the whole decoded text gives, and rejects what
 * `JSON.parse` rejects. Documents are written by hand here (not `JSON.stringify`), so keys can be
 * escaped (`"\u006aoin"` is "join"), repeated (the last one wins) and spaced out.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { MatrixError, MatrixNetworkError } from "../../src/api/errors.js";
import { HttpClient, type FetchLike } from "../../src/api/http.js";
import { JsonBodyError, SyncBodyParser, readSyncBody } from "../../src/api/sync-body.js";

type Node = { obj: [string, Node][] } | { arr: Node[] } | { leaf: unknown };

const text = fc.string({ unit: "binary", maxLength: 8 });
const key = fc.oneof(text, fc.constantFrom("rooms", "join", "__proto__", "!a:x", "!b:x", "leave", "\\", '"', "1", "0"));
const leaf: fc.Arbitrary<Node> = fc.oneof(
  fc.record({ leaf: fc.oneof(text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null)) }),
);
const { node } = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.record({ obj: fc.array(fc.tuple(key, tie("node")), { maxLength: 4 }) }),
    fc.record({ arr: fc.array(tie("node"), { maxLength: 3 }) }),
  ),
}));
/** `rooms.join` and its neighbours, often repeated, so the path the reader cuts out is nearly always there. */
const join: fc.Arbitrary<Node> = fc.oneof({ arbitrary: fc.record({ obj: fc.array(fc.tuple(key, node), { maxLength: 5 }) }), weight: 4 }, { arbitrary: node, weight: 1 });
const rooms: fc.Arbitrary<Node> = fc.oneof(
  { arbitrary: fc.record({ obj: fc.array(fc.oneof({ arbitrary: fc.tuple(fc.constant("join"), join), weight: 3 }, { arbitrary: fc.tuple(key, node), weight: 1 }), { maxLength: 4 }) }), weight: 4 },
  { arbitrary: node, weight: 1 },
);
const body: fc.Arbitrary<Node> = fc.oneof(
  { arbitrary: fc.record({ obj: fc.array(fc.oneof({ arbitrary: fc.tuple(fc.constant("rooms"), rooms), weight: 3 }, { arbitrary: fc.tuple(key, node), weight: 1 }), { maxLength: 4 }) }), weight: 4 },
  { arbitrary: node, weight: 1 },
);

/** Writes a node with the given whitespace, escaping key characters as \uXXXX when `escape` says so. */
function write(n: Node, space: string, escape: (i: number) => boolean): string {
  let count = 0;
  const str = (s: string): string => {
    if (!escape(count++)) return JSON.stringify(s);
    return `"${[...s].map((c) => (c.length === 1 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}` : JSON.stringify(c).slice(1, -1))).join("")}"`;
  };
  const go = (x: Node): string => {
    if ("leaf" in x) return JSON.stringify(x.leaf);
    if ("arr" in x) return `[${space}${x.arr.map(go).join(`${space},${space}`)}${space}]`;
    return `{${space}${x.obj.map(([k, v]) => `${str(k)}${space}:${space}${go(v)}`).join(`${space},${space}`)}${space}}`;
  };
  return go(n);
}

const document = fc.record({ node: body, space: fc.constantFrom("", " ", "\n\t", "\r\n  "), escapes: fc.array(fc.boolean(), { maxLength: 12 }) }).map(({ node: n, space, escapes }) =>
  write(n, space, (i) => escapes[i % Math.max(1, escapes.length)] === true),
);

/** Splits bytes at the given cut points (any byte, inside a character too). */
function chunks(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of at) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** What reading the whole body as text and `JSON.parse` gives (an empty body is `{}`, as in `HttpClient`). */
function whole(bytes: Uint8Array): { value: unknown } | { error: true } {
  const decoded = new TextDecoder().decode(bytes);
  if (decoded.length === 0) return { value: {} };
  try {
    return { value: JSON.parse(decoded) };
  } catch {
    return { error: true };
  }
}

function streamed(parts: Uint8Array[]): { value: unknown } | { error: true } {
  const parser = new SyncBodyParser();
  try {
    for (const p of parts) parser.push(p);
    return { value: parser.end() };
  } catch (error) {
    assert.ok(error instanceof JsonBodyError, `only JsonBodyError is thrown, got ${String(error)}`);
    return { error: true };
  }
}

const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe("SyncBodyParser", () => {
  test("gives JSON.parse's value for any document, escaped and repeated keys included, cut anywhere", () => {
    fc.assert(
      fc.property(document, cuts, fc.boolean(), (doc, at, bom) => {
        const encoded = new TextEncoder().encode(doc);
        const bytes = bom ? new Uint8Array([0xef, 0xbb, 0xbf, ...encoded]) : encoded;
        assert.deepStrictEqual(streamed(chunks(bytes, at)), { value: JSON.parse(doc) });
      }),
      { numRuns: 2000 },
    );
  });

  test("rejects exactly what JSON.parse rejects: a byte deleted, inserted or replaced, or the body cut short", () => {
    const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom("delete", "insert", "replace", "truncate"), byte: fc.constantFrom(0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x20, 0x61, 0x30, 0x00, 0x80, 0xa0, 0xbf, 0xc3, 0xed, 0xef, 0xf0, 0xf4, 0xff) });
    fc.assert(
      fc.property(document, edit, cuts, (doc, e, at) => {
        const bytes = [...new TextEncoder().encode(doc)];
        const i = e.at % (bytes.length + 1);
        if (e.kind === "delete") bytes.splice(i, 1);
        else if (e.kind === "insert") bytes.splice(i, 0, e.byte);
        else if (e.kind === "replace") bytes.splice(i, 1, e.byte);
        else bytes.length = i;
        const edited = new Uint8Array(bytes);
        assert.deepStrictEqual(streamed(chunks(edited, at)), whole(edited));
      }),
      { numRuns: 3000 },
    );
  });

  test("a room's value is parsed as the room ends, not at the end of the body", () => {
    const parser = new SyncBodyParser();
    const parse = JSON.parse;
    const parsed: string[] = [];
    JSON.parse = ((t: string) => (parsed.push(t), parse(t))) as typeof JSON.parse;
    try {
      parser.push(new TextEncoder().encode('{"next_batch":"s1","rooms":{"join":{"!a:x":{"timeline":{"events":[{"type":"x\\"}"}]}},'));
      // The room and its key, as soon as its closing brace came (the rest waits for the end).
      assert.deepEqual(parsed.slice(-2), ['{"timeline":{"events":[{"type":"x\\"}"}]}}', '"!a:x"']);
      parser.push(new TextEncoder().encode('"!b:x":{}}}}'));
    } finally {
      JSON.parse = parse;
    }
    assert.deepEqual(parser.end(), { next_batch: "s1", rooms: { join: { "!a:x": { timeline: { events: [{ type: 'x"}' }] } }, "!b:x": {} } } });
  });

  test("hostile bodies end in JsonBodyError, not a hang or a crash: deep nesting, an endless room, stray closers", () => {
    const deep = `{"rooms":{"join":{"!a:x":${"[".repeat(200_000)}${"]".repeat(200_000)}}}}`;
    assert.ok("value" in streamed([new TextEncoder().encode(deep)]), "deep but valid: read");
    for (const bad of [`{"rooms":{"join":{"!a:x":${"[".repeat(100_000)}`, "}}}}]]]", '{"rooms":{"join":{"!a:x" {}}}}', '{"rooms":{"join":{,}}}', '{"rooms":{"join":{"!a:x":{},}}}', "\u00ef\u00bb{}"]) {
      assert.deepEqual(streamed([new TextEncoder().encode(bad)]), { error: true }, bad.slice(0, 40));
    }
  });
});

describe("readSyncBody through HttpClient", () => {
  const respond = (parts: Uint8Array[], status = 200): Response => {
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({ pull: (c) => (i < parts.length ? c.enqueue(parts[i++]!) : c.close()) });
    const response = new Response(stream, { status, headers: { "content-type": "application/json" } });
    // The streamed read never asks for the whole text.
    Object.defineProperty(response, "text", { value: () => Promise.reject(new Error("text() holds the whole body")) });
    return response;
  };
  const client = (make: () => Response): HttpClient => new HttpClient({ baseUrl: "http://127.0.0.1:1", fetch: (async () => make()) as FetchLike, maxTransientRetries: 0 });
  const get = (http: HttpClient): Promise<unknown> => http.request({ method: "GET", path: "/sync", readJson: readSyncBody });

  test("a body cut into chunks reads as its JSON; a malformed one is M_NOT_JSON", async () => {
    const doc = { next_batch: "s1", rooms: { join: { "!a:x": { timeline: { events: [{ type: "m.room.message", content: { body: "Grüße 🎉 \\\" }" } }] } } } } };
    const bytes = new TextEncoder().encode(JSON.stringify(doc));
    assert.deepEqual(await get(client(() => respond(chunks(bytes, [7, 60, bytes.length - 9])))), doc);
    await assert.rejects(get(client(() => respond([bytes.subarray(0, 50)]))), (e: unknown) => e instanceof MatrixError && e.errcode === "M_NOT_JSON");
  });

  test("a connection dropped mid-body is a network error; an error status is read as before", async () => {
    const broken = (): Response => {
      let sent = false;
      const pull = (c: ReadableStreamDefaultController<Uint8Array>): void => {
        if (sent) return c.error(new Error("socket hang up"));
        c.enqueue(new TextEncoder().encode('{"rooms":{"join":{'));
        sent = true;
      };
      return new Response(new ReadableStream<Uint8Array>({ pull }));
    };
    await assert.rejects(get(client(broken)), (e: unknown) => e instanceof MatrixNetworkError);
    const forbidden = (): Response => new Response('{"errcode":"M_FORBIDDEN","error":"no"}', { status: 403 });
    await assert.rejects(get(client(forbidden)), (e: unknown) => e instanceof MatrixError && e.errcode === "M_FORBIDDEN");
  });
});
