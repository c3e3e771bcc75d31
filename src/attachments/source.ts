/**
 * Where an attachment's bytes come from, and reading them with a size cap:
 * a file is measured before it is read, a URL by its `Content-Length` and
 * then while streaming, so an oversized source never fills memory.
 *
 * @module
 */
import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import type { FetchLike } from "../api/http.js";
import type { EncryptedFile } from "./encryption.js";
import { AttachmentError, AttachmentTooLargeError, messageOf } from "./errors.js";
import { filenameFromDisposition, type DownloadedMedia } from "./media.js";

/** A stream of bytes: a Node `Readable`, a web `ReadableStream`, or any async iterable of chunks. */
export type ByteStream = AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

/** The origin of an attachment. */
export type AttachmentSource =
  | { type: "path"; path: string }
  | { type: "bytes"; bytes: Uint8Array }
  | { type: "stream"; stream: ByteStream }
  | { type: "url"; url: string; fetch?: FetchLike }
  | { type: "mxc"; mxc: string | EncryptedFile };

/** What reading a source yields. */
export interface LoadedSource {
  bytes: Uint8Array;
  /** A file name the source itself suggests (path basename, `Content-Disposition`, URL path). */
  filename?: string;
  /** A `Content-Type` the source gave, as a hint for detection. */
  contentType?: string;
}

/** What `loadSource` needs from its caller. */
export interface LoadContext {
  /** Cap in bytes; bigger sources fail with {@link AttachmentTooLargeError}. */
  maxBytes: number;
  /** Transport for URL sources that bring none of their own. */
  fetch?: FetchLike;
  /** Downloads (and decrypts) from the content repository, for mxc sources. */
  download?: (source: string | EncryptedFile) => Promise<DownloadedMedia>;
  signal?: AbortSignal;
  /** Time limit of a URL fetch (default 60 s). */
  timeoutMs?: number;
}

/** Reads a source into memory, enforcing `ctx.maxBytes`. */
export async function loadSource(source: AttachmentSource, ctx: LoadContext): Promise<LoadedSource> {
  switch (source.type) {
    case "bytes":
      return { bytes: source.bytes };
    case "path":
      return loadPath(source.path, ctx.maxBytes);
    case "stream":
      return { bytes: await readCapped(source.stream, ctx.maxBytes, "stream") };
    case "url":
      return loadUrl(source.url, source.fetch ?? ctx.fetch ?? ((input, init) => fetch(input, init)), ctx);
    case "mxc": {
      if (!ctx.download) throw new AttachmentError("an mxc:// attachment needs a bot to download it");
      const media = await ctx.download(source.mxc);
      return { bytes: media.bytes, ...(media.filename ? { filename: media.filename } : {}), contentType: media.contentType };
    }
  }
}

async function loadPath(path: string, maxBytes: number): Promise<LoadedSource> {
  const name = basename(path);
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new AttachmentError(`${JSON.stringify(path)} is not a regular file`);
    if (info.size > maxBytes) throw new AttachmentTooLargeError(name, info.size, maxBytes);
    const bytes = new Uint8Array(await readFile(path));
    if (bytes.length > maxBytes) throw new AttachmentTooLargeError(name, bytes.length, maxBytes);
    return { bytes, filename: name };
  } catch (error) {
    if (error instanceof AttachmentError) throw error;
    throw new AttachmentError(`could not read ${JSON.stringify(path)}: ${messageOf(error)}`, { cause: error });
  }
}

async function loadUrl(url: string, fetchImpl: FetchLike, ctx: LoadContext): Promise<LoadedSource> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AttachmentError(`not a valid URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new AttachmentError(`only http(s) URLs can be fetched, not ${parsed.protocol}`);
  const timeout = AbortSignal.timeout(ctx.timeoutMs ?? 60_000);
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
  const shown = `${parsed.origin}${parsed.pathname}`;
  let response: Response;
  try {
    response = await fetchImpl(parsed.href, { method: "GET", redirect: "follow", signal });
  } catch (error) {
    throw new AttachmentError(`could not fetch ${shown}: ${messageOf(error)}`, { cause: error });
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new AttachmentError(`could not fetch ${shown}: HTTP ${response.status}`);
  }
  const name = filenameFromDisposition(response.headers.get("content-disposition")) ?? nameFromUrl(parsed);
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > ctx.maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new AttachmentTooLargeError(name ?? shown, declared, ctx.maxBytes);
  }
  const bytes = response.body ? await readCapped(response.body, ctx.maxBytes, name ?? shown) : new Uint8Array();
  const contentType = response.headers.get("content-type") ?? undefined;
  return { bytes, ...(name ? { filename: name } : {}), ...(contentType ? { contentType } : {}) };
}

function nameFromUrl(url: URL): string | undefined {
  const last = url.pathname.split("/").filter(Boolean).pop();
  if (!last) return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** Reads a stream into one buffer; stops (and cancels the stream) as soon as it passes `maxBytes`. */
export async function readCapped(stream: ByteStream, maxBytes: number, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const iterable: AsyncIterable<Uint8Array> = Symbol.asyncIterator in stream ? stream : iterateWebStream(stream);
  try {
    // Leaving the loop early (by the throw) calls return() on the iterator, which cancels/destroys the stream.
    for await (const chunk of iterable) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      total += bytes.length;
      if (total > maxBytes) throw new AttachmentTooLargeError(what, total, maxBytes, true);
      chunks.push(bytes);
    }
  } catch (error) {
    if (error instanceof AttachmentError) throw error;
    throw new AttachmentError(`could not read ${what}: ${messageOf(error)}`, { cause: error });
  }
  return new Uint8Array(Buffer.concat(chunks, total));
}

async function* iterateWebStream(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
