/**
 * Reads a `/sync` body as it streams in, without ever holding the whole text beside the whole
 * parsed tree. At 10 000 rooms the initial sync is over 20 MB of JSON: read as one text, the
 * socket's chunks, their concatenation, the decoded string and the parsed objects all exist at
 * once just before `JSON.parse` returns, and that is the bot's peak memory.
 *
 * Here a small linear scanner (string, escape and depth state; no regex, no recursion) walks the
 * bytes chunk by chunk. Each member of `rooms.join` (one room) is cut out as its own slice and
 * parsed on its own as soon as it is complete; everything else is kept as bytes, with
 * `rooms.join` replaced by `{}`, and parsed at the end, after which the rooms are put back. The
 * result is what `JSON.parse` of the whole text gives (duplicate keys included: the last one
 * wins), and a body that `JSON.parse` would reject is rejected with a {@link JsonBodyError}.
 *
 * A reader may also take each room as it is parsed ({@link JoinedRoomSink}): a room it takes is
 * not kept at all, so a historical initial sync never holds more than one parsed room beside
 * what the bot keeps of the others (the sync engine applies such rooms to its room state at once).
 *
 * Splitting on bytes is safe for UTF-8: every byte of a multi-byte character is 0x80 or above,
 * so none of them is mistaken for a quote, a backslash or a bracket, and every cut falls next to
 * an ASCII structural byte, so no character is cut in two.
 *
 * @module
 */

/** The body is not the JSON it should be (cut short, malformed, or not JSON at all). */
export class JsonBodyError extends Error {
  override name = "JsonBodyError";
}

/**
 * Takes one member of the body's `rooms.join` (its key and parsed value) as soon as it is parsed;
 * returns true when it took the room, which is then left out of the parsed body. Rooms are given
 * in the body's order, before the rest of the body is known, and a repeated key (or a repeated
 * `join`) is given each time, not only its last value as `JSON.parse` keeps; a room given before
 * the body turns out to be malformed has been given all the same. What it throws ends the read.
 */
export type JoinedRoomSink = (roomId: string, room: unknown) => boolean;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const BOM = [0xef, 0xbb, 0xbf];

/** Keys longer than this (as bytes, escapes included) are not compared with "rooms" or "join". */
const MAX_PATH_KEY = 64;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** A byte buffer that grows by doubling; reused from slice to slice. */
class Bytes {
  buf = new Uint8Array(1024);
  length = 0;

  append(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    if (this.length + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.length + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(src.subarray(from, to), this.length);
    this.length += n;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  /** Empties the buffer; one grown past 1 MB by a large room is let go rather than kept. */
  clear(): void {
    this.length = 0;
    if (this.buf.length > 1 << 20) this.buf = new Uint8Array(1024);
  }
}

/** What the scanner expects inside `rooms.join`. */
const enum J {
  /** After `{`: a key or `}`. */
  Open,
  /** After `,`: a key. */
  Next,
  Key,
  Colon,
  ValueStart,
  Value,
  After,
}

/** How the current room value is delimited. */
const enum V {
  Container,
  String,
  Scalar,
}

/**
 * The scanner: feed it chunks with {@link SyncBodyParser.push}, then take the value with
 * {@link SyncBodyParser.end}. Synchronous and pure, so it can be tested on any split of any text.
 */
export class SyncBodyParser {
  /** Everything outside `rooms.join`, with `{}` in its place. */
  readonly #rest = new Bytes();
  /** The current room's key (quotes included) and, when it spans chunks, its value. */
  readonly #key = new Bytes();
  readonly #value = new Bytes();
  #bom = 0;
  #sawAny = false;

  // Outside rooms.join: enough state to find the path `rooms.join` in a valid document.
  #inString = false;
  #escape = false;
  #depth = 0;
  /** Whether the containers at depth 1 and 2 are objects waiting for a key. */
  readonly #expectKey = [false, false, false];
  readonly #isObject = [false, false, false];
  /** Whether the object at depth 2 is the top level's `rooms`. */
  #inRooms = false;
  #capturing = false;
  #captured = "";
  #capturedLength = 0;
  #capturedPlain = true;
  /** The key just read at depth 1 or 2 (undefined when it cannot be "rooms" or "join"). */
  #lastKey: string | undefined;
  /** The key whose value comes next (after its colon), at {@link #pendingDepth}. */
  #pending: string | undefined;
  #pendingDepth = 0;
  #roomsNext = false;

  // Inside rooms.join.
  #joining = false;
  #j = J.Open;
  #v = V.Container;
  #vDepth = 0;
  #vString = false;
  #vEscape = false;
  /** The next backslash at or after the scan in the current chunk (its length: none); -1 at a new chunk. */
  #backslash = -1;
  #join: Record<string, unknown> = {};
  /**
   * The rooms of the last object-valued `join` seen. When the parsed rest has an object at
   * `rooms.join`, that is the placeholder of the last `join` of the last top-level `rooms`,
   * which is this one (a later `rooms` with another object `join` would have replaced it).
   */
  #lastJoin: Record<string, unknown> | undefined;

  /** @param onRoom takes rooms as they are parsed (see {@link JoinedRoomSink}); none: all are kept. */
  constructor(private readonly onRoom?: JoinedRoomSink) {}

  /** Scans one chunk of the body. */
  push(bytes: Uint8Array): void {
    // A Buffer's indexOf and utf8 decoding are native and fast; a view, not a copy.
    const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#backslash = -1;
    let i = 0;
    const n = chunk.length;
    while (this.#bom < 3 && i < n) {
      // A UTF-8 byte order mark is skipped, as `Response.text()` does; part of one is not JSON.
      if (chunk[i] !== BOM[this.#bom]) {
        if (this.#bom > 0) throw new JsonBodyError("response was not JSON");
        this.#bom = 3;
        break;
      }
      this.#bom++;
      i++;
    }
    if (i < n) this.#sawAny = true;
    // Where the bytes not yet copied to the rest (or to the current slice) begin.
    let from = i;
    while (i < n) {
      if (this.#joining) {
        i = this.#scanJoin(chunk, i, from);
        from = i;
        continue;
      }
      const b = chunk[i]!;
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (b === BACKSLASH) this.#escape = true;
        else if (b === QUOTE) {
          this.#inString = false;
          if (this.#capturing) this.#keyRead();
        }
        if (this.#capturing && this.#inString) this.#captureByte(b);
        i++;
        continue;
      }
      if (isSpace(b)) {
        i++;
        continue;
      }
      const pending = this.#pending;
      const atValue = pending !== undefined && this.#pendingDepth === this.#depth;
      this.#pending = undefined;
      if (b === QUOTE) {
        this.#inString = true;
        const d = this.#depth;
        if ((d === 1 || (d === 2 && this.#inRooms)) && this.#expectKey[d] === true) {
          this.#capturing = true;
          this.#captured = "";
          this.#capturedLength = 0;
          this.#capturedPlain = true;
        }
      } else if (b === LBRACE || b === LBRACKET) {
        if (atValue && b === LBRACE && this.#depth === 2 && this.#inRooms && pending === "join") {
          this.#rest.append(chunk, from, i);
          this.#rest.append(PLACEHOLDER, 0, 2);
          this.#joining = true;
          this.#j = J.Open;
          this.#join = {};
          from = ++i;
          continue;
        }
        this.#depth++;
        if (this.#depth >= 1 && this.#depth <= 2) {
          this.#isObject[this.#depth] = b === LBRACE;
          this.#expectKey[this.#depth] = b === LBRACE;
          if (this.#depth === 2) this.#inRooms = atValue && b === LBRACE && this.#roomsNext;
        }
      } else if (b === RBRACE || b === RBRACKET) {
        this.#depth--;
        if (this.#depth < 2) this.#inRooms = false;
      } else if (b === COMMA) {
        const d = this.#depth;
        if (d >= 1 && d <= 2 && this.#isObject[d] === true) this.#expectKey[d] = true;
      } else if (b === COLON) {
        if (this.#depth >= 1 && this.#depth <= 2) {
          this.#pending = this.#lastKey ?? "";
          this.#pendingDepth = this.#depth;
          this.#roomsNext = this.#depth === 1 && this.#lastKey === "rooms";
          this.#lastKey = undefined;
        }
      }
      i++;
    }
    if (this.#joining) this.#keepSlice(chunk, from, n);
    else this.#rest.append(chunk, from, n);
  }

  /** The parsed body; throws {@link JsonBodyError} for what `JSON.parse` of the whole would reject. */
  end(): unknown {
    if (this.#bom > 0 && this.#bom < 3) throw new JsonBodyError("response was not JSON");
    if (this.#joining) throw new JsonBodyError("response was not JSON: it ends inside rooms.join");
    if (!this.#sawAny) return {};
    const value = parse(utf8(this.#rest.view()));
    this.#rest.clear();
    const rooms = isObject(value) ? value.rooms : undefined;
    if (isObject(rooms) && isObject(rooms.join)) {
      // Only a placeholder can be there: every object-valued rooms.join was cut out.
      if (this.#lastJoin === undefined) throw new JsonBodyError("response was not JSON");
      rooms.join = this.#lastJoin;
    }
    this.#lastJoin = undefined;
    return value;
  }

  #captureByte(b: number): void {
    if (b >= 0x80) this.#capturedPlain = false;
    if (++this.#capturedLength <= MAX_PATH_KEY) this.#captured += String.fromCharCode(b);
  }

  /** A key at depth 1 or 2 ended: decode it (escapes included) when it could be "rooms" or "join". */
  #keyRead(): void {
    this.#capturing = false;
    const d = this.#depth;
    this.#expectKey[d] = false;
    let key: string | undefined;
    if (this.#capturedPlain && this.#capturedLength <= MAX_PATH_KEY) {
      try {
        key = JSON.parse(`"${this.#captured}"`) as string;
      } catch {
        key = undefined;
      }
    }
    this.#lastKey = key;
  }

  /** Keeps the current slice's bytes of this chunk, for a key or value that goes on in the next one. */
  #keepSlice(chunk: Uint8Array, from: number, to: number): void {
    if (this.#j === J.Key) this.#key.append(chunk, from, to);
    else if (this.#j === J.Value) this.#value.append(chunk, from, to);
  }

  /**
   * Scans inside `rooms.join` from `i`, where the current slice (if any) began at `from` or in
   * an earlier chunk; returns where it stopped: the end of the chunk, or just after the object.
   */
  #scanJoin(chunk: Buffer, i: number, from: number): number {
    const n = chunk.length;
    let start = from;
    while (i < n) {
      const b = chunk[i]!;
      switch (this.#j) {
        case J.Open:
        case J.Next:
          if (isSpace(b)) break;
          if (b === QUOTE) {
            this.#j = J.Key;
            this.#vEscape = false;
            start = i;
          } else if (b === RBRACE && this.#j === J.Open) {
            return this.#joinEnd(i);
          } else throw new JsonBodyError("response was not JSON: bad rooms.join");
          break;
        case J.Key:
          if (this.#vEscape) this.#vEscape = false;
          else if (b === BACKSLASH) this.#vEscape = true;
          else if (b === QUOTE) {
            this.#key.append(chunk, start, i + 1);
            this.#j = J.Colon;
          }
          break;
        case J.Colon:
          if (isSpace(b)) break;
          if (b !== COLON) throw new JsonBodyError("response was not JSON: bad rooms.join");
          this.#j = J.ValueStart;
          break;
        case J.ValueStart:
          if (isSpace(b)) break;
          start = i;
          this.#j = J.Value;
          this.#vString = false;
          this.#vEscape = false;
          if (b === LBRACE || b === LBRACKET) {
            this.#v = V.Container;
            this.#vDepth = 1;
          } else if (b === QUOTE) {
            // A string is a container of depth 0 that is inside its string.
            this.#v = V.String;
            this.#vDepth = 0;
            this.#vString = true;
          } else if (b === COMMA || b === RBRACE || b === RBRACKET || b === COLON) {
            throw new JsonBodyError("response was not JSON: bad rooms.join");
          } else this.#v = V.Scalar;
          break;
        case J.Value: {
          const end = this.#valueEnd(chunk, i);
          if (end < 0) {
            this.#keepSlice(chunk, start, n);
            return n;
          }
          this.#room(chunk, start, end);
          this.#j = J.After;
          // A scalar's end is its delimiter, read again as what follows the value.
          i = end;
          continue;
        }
        case J.After:
          if (isSpace(b)) break;
          if (b === COMMA) this.#j = J.Next;
          else if (b === RBRACE) return this.#joinEnd(i);
          else throw new JsonBodyError("response was not JSON: bad rooms.join");
          break;
      }
      i++;
    }
    this.#keepSlice(chunk, start, n);
    return n;
  }

  /**
   * Where the current room value ends in `chunk`, scanning from `i`: the index after its last
   * byte (for a scalar, of its delimiter), or -1 when it goes on in the next chunk. Strings are
   * skipped with `indexOf` (native, and most of a room's bytes are inside strings); the next
   * backslash's position is kept for the whole chunk, so no byte is searched twice.
   */
  #valueEnd(chunk: Buffer, i: number): number {
    const n = chunk.length;
    if (this.#v === V.Scalar) {
      for (; i < n; i++) {
        const b = chunk[i]!;
        if (isSpace(b) || b === COMMA || b === RBRACE || b === RBRACKET) return i;
      }
      return -1;
    }
    let depth = this.#vDepth;
    let inString = this.#vString;
    while (i < n) {
      if (this.#vEscape) {
        this.#vEscape = false;
        i++;
        continue;
      }
      if (inString) {
        const quote = chunk.indexOf(QUOTE, i);
        if (this.#backslash < i) {
          const k = chunk.indexOf(BACKSLASH, i);
          this.#backslash = k === -1 ? n : k;
        }
        if (this.#backslash < (quote === -1 ? n : quote)) {
          // The byte after a backslash is part of its escape, a quote included.
          i = this.#backslash + 1;
          this.#vEscape = true;
          continue;
        }
        if (quote === -1) break;
        i = quote + 1;
        inString = false;
        if (depth === 0) return i;
        continue;
      }
      const b = chunk[i]!;
      if (b === QUOTE) inString = true;
      else if (b === LBRACE || b === LBRACKET) depth++;
      else if ((b === RBRACE || b === RBRACKET) && --depth === 0) return i + 1;
      i++;
    }
    this.#vDepth = depth;
    this.#vString = inString;
    return -1;
  }

  /** `rooms.join` closed at `i`: back to the rest of the body. */
  #joinEnd(i: number): number {
    this.#joining = false;
    this.#lastJoin = this.#join;
    this.#join = {};
    return i + 1;
  }

  /** One room's value ended at `to` (it began in this chunk at `from`, or in earlier ones). */
  #room(chunk: Buffer, from: number, to: number): void {
    let bytes: Uint8Array;
    if (this.#value.length === 0) bytes = chunk.subarray(from, to);
    else {
      this.#value.append(chunk, from, to);
      bytes = this.#value.view();
    }
    const value = parse(utf8(bytes));
    const key = parse(utf8(this.#key.view())) as string;
    this.#key.clear();
    this.#value.clear();
    if (this.onRoom?.(key, value) === true) return;
    // `__proto__` as a key is an own property in JSON.parse; plain assignment would set the prototype.
    if (key === "__proto__") Object.defineProperty(this.#join, key, { value, writable: true, enumerable: true, configurable: true });
    else this.#join[key] = value;
  }
}

const PLACEHOLDER = new Uint8Array([LBRACE, RBRACE]);

/**
 * UTF-8 bytes as text, invalid sequences as U+FFFD as `Response.text()` does, a byte order
 * mark kept (only the body's first is skipped, in {@link SyncBodyParser.push}).
 */
function utf8(bytes: Uint8Array): string {
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString("utf8");
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new JsonBodyError("response was not JSON");
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads a `/sync` body from its stream (a fetch body or a Node stream) with a {@link SyncBodyParser}, giving `onRoom` the rooms
 * of `rooms.join` as they are parsed (see {@link JoinedRoomSink}). Stream errors (a dropped
 * connection, an abort) are thrown as they come; a body that is not JSON as {@link JsonBodyError}.
 */
export async function readSyncBody(body: AsyncIterable<Uint8Array>, onRoom?: JoinedRoomSink): Promise<unknown> {
  const parser = new SyncBodyParser(onRoom);
  // Leaving the loop by a throw ends the iteration, which cancels the stream (a fetch body) or
  // destroys it (the default transport's): the connection's remaining bytes are not wanted.
  for await (const chunk of body) parser.push(chunk);
  return parser.end();
}
