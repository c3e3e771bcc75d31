/**
 * The content repository as a bot uses it: uploads checked against the
 * server's size limit before a byte is sent, and downloads through
 * authenticated media with the legacy endpoint as fallback for old servers,
 * decrypting encrypted files on the way.
 *
 * @module
 */
import type { CallOptions, MatrixApi } from "../api/client.js";
import { MatrixError } from "../api/errors.js";
import type { RawResponse } from "../api/http.js";
import type { MediaConfigResponse } from "../api/types.js";
import { parseMxcUri, type MxcParts } from "../ids/grammar.js";
import { decryptAttachment, isEncryptedFile, type EncryptedFile } from "./encryption.js";
import { AttachmentError, AttachmentTooLargeError } from "./errors.js";

/** A downloaded file. */
export interface DownloadedMedia {
  /** The file's bytes (decrypted, for an encrypted file). */
  bytes: Uint8Array;
  /** The `Content-Type` the server gave (`application/octet-stream` for encrypted files), or octet-stream. */
  contentType: string;
  /** The file name from `Content-Disposition`, when the uploader gave one. */
  filename?: string;
}


/** Options of a {@link MediaClient}. */
export interface MediaClientOptions {
  /** How long the server's upload limit is cached (default 1 hour). */
  configTtlMs?: number;
}

/**
 * Splits an `mxc://server/mediaId` URI, validating both parts as the spec
 * defines them (media ids are `[A-Za-z0-9_-]`).
 *
 * @throws {@link AttachmentError} for anything else.
 * @example
 * parseMxc("mxc://example.org/abc123") // { serverName: "example.org", mediaId: "abc123" }
 */
export function parseMxc(uri: string): MxcParts {
  return parseMxcUri(uri) ?? failMxc(uri);
}

function failMxc(uri: string): never {
  throw new AttachmentError(`not a valid mxc:// URI: ${JSON.stringify(uri.slice(0, 300))}`);
}

/** Reads the file name of a `Content-Disposition` header (`filename*=UTF-8''...` preferred). */
export function filenameFromDisposition(header: string | null): string | undefined {
  if (!header) return undefined;
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (extended?.[2]) {
    try {
      return decodeURIComponent(extended[2].trim());
    } catch {
      // Malformed percent-encoding: fall through to the plain parameter.
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/i.exec(header);
  const value = plain?.[1]?.replace(/\\(.)/g, "$1") ?? plain?.[2]?.trim();
  return value || undefined;
}

/**
 * Uploads and downloads for one account. `NioBot` keeps one as `bot.media`.
 *
 * @example
 * const mxc = await bot.media.upload(bytes, "image/png", "cat.png");
 * const { bytes, contentType } = await bot.media.download(mxc);
 */
export class MediaClient {
  readonly api: MatrixApi;
  readonly #ttlMs: number;
  #limit: { value: Promise<number | undefined>; at: number } | undefined;
  /** False once the server answered that it has no authenticated media endpoints. */
  #authenticated = true;

  constructor(api: MatrixApi, options: MediaClientOptions = {}) {
    this.api = api;
    this.#ttlMs = options.configTtlMs ?? 3_600_000;
  }

  /**
   * The server's upload limit in bytes (`m.upload.size`), or undefined when it
   * states none. Cached; one request per hour at most.
   */
  uploadLimit(o: CallOptions = {}): Promise<number | undefined> {
    if (this.#limit && Date.now() - this.#limit.at < this.#ttlMs) return this.#limit.value;
    const value = this.#fetchLimit(o).catch((error: unknown) => {
      // Not cached: the next upload asks again; this one relies on the server's own check.
      this.#limit = undefined;
      if (error instanceof MatrixError && error.status < 500 && error.status !== 429) return undefined;
      throw error;
    });
    this.#limit = { value, at: Date.now() };
    return value;
  }

  async #fetchLimit(o: CallOptions): Promise<number | undefined> {
    let config: MediaConfigResponse;
    try {
      config = await this.api.media.config(o);
    } catch (error) {
      if (!isUnrecognized(error)) throw error;
      config = await this.api.http.request<MediaConfigResponse>({ method: "GET", path: "/_matrix/media/v3/config", signal: o.signal });
    }
    const size = config["m.upload.size"];
    return typeof size === "number" && size > 0 ? size : undefined;
  }

  /**
   * Throws {@link AttachmentTooLargeError} if `size` bytes exceed the server's limit.
   * `what` names the file in the message.
   */
  async checkSize(size: number, what = "file", o: CallOptions = {}): Promise<void> {
    const limit = await this.uploadLimit(o);
    if (limit !== undefined && size > limit) throw new AttachmentTooLargeError(what, size, limit);
  }

  /**
   * Uploads bytes after checking them against the upload limit; returns the `mxc://` URI.
   *
   * @throws {@link AttachmentTooLargeError} before uploading when the file is over the limit
   *   (also when the server itself answers 413 `M_TOO_LARGE`).
   */
  async upload(bytes: Uint8Array, contentType: string, filename?: string, o: CallOptions = {}): Promise<string> {
    await this.checkSize(bytes.length, filename ?? "file", o);
    try {
      const { content_uri } = await this.api.media.upload(bytes, contentType, filename, o);
      return content_uri;
    } catch (error) {
      if (error instanceof MatrixError && (error.status === 413 || error.errcode === "M_TOO_LARGE")) {
        // The limit changed since we cached it (or was never stated): forget it.
        this.#limit = undefined;
        throw new AttachmentTooLargeError(filename ?? "file", bytes.length, (await this.uploadLimit(o).catch(() => undefined)) ?? bytes.length - 1);
      }
      throw error;
    }
  }

  /**
   * Downloads a file by `mxc://` URI, or an encrypted file by its
   * {@link EncryptedFile} (verified and decrypted).
   *
   * @throws {@link AttachmentDecryptionError} when an encrypted file's hash does not match.
   * @example
   * const { bytes } = await bot.media.download(event.content.file ?? event.content.url);
   */
  async download(source: string | EncryptedFile, o: CallOptions = {}): Promise<DownloadedMedia> {
    if (typeof source !== "string") {
      if (!isEncryptedFile(source)) throw new AttachmentError("download: expected an mxc:// URI or an EncryptedFile object");
      const raw = await this.#downloadRaw(parseMxc(source.url), o);
      const filename = filenameFromDisposition(raw.headers.get("content-disposition"));
      return { bytes: decryptAttachment(raw.body, source), contentType: "application/octet-stream", ...(filename ? { filename } : {}) };
    }
    const raw = await this.#downloadRaw(parseMxc(source), o);
    const filename = filenameFromDisposition(raw.headers.get("content-disposition"));
    const contentType = raw.headers.get("content-type")?.trim() || "application/octet-stream";
    return { bytes: raw.body, contentType, ...(filename ? { filename } : {}) };
  }

  async #downloadRaw(mxc: MxcParts, o: CallOptions): Promise<RawResponse> {
    if (this.#authenticated) {
      try {
        return await this.api.media.download(mxc.serverName, mxc.mediaId, o);
      } catch (error) {
        if (!isUnrecognized(error)) throw error;
        const raw = await this.api.media.downloadLegacy(mxc.serverName, mxc.mediaId, o);
        // Only a clear "no such endpoint" is remembered, so later downloads skip the failing request.
        if ((error as MatrixError).errcode === "M_UNRECOGNIZED") this.#authenticated = false;
        return raw;
      }
    }
    return this.api.media.downloadLegacy(mxc.serverName, mxc.mediaId, o);
  }
}

/** The server does not know the endpoint: 404/405 with `M_UNRECOGNIZED`, or with no Matrix error body at all. */
function isUnrecognized(error: unknown): boolean {
  if (!(error instanceof MatrixError)) return false;
  if (error.errcode === "M_UNRECOGNIZED") return error.status === 404 || error.status === 405 || error.status === 400;
  return (error.status === 404 || error.status === 405) && error.errcode === "M_UNKNOWN" && error.body.errcode === undefined;
}
