/**
 * `Attachment`: a file to send, described by where it comes from and how it
 * should be presented. Nothing is read until it is sent (or `load`ed), so an
 * attachment is cheap to create and can be reused: its bytes are read once.
 *
 * @module
 */
import { isAbsolute } from "node:path";
import type { FetchLike } from "../api/http.js";
import { isEncryptedFile, type EncryptedFile } from "./encryption.js";
import { AttachmentError } from "./errors.js";
import type { ThumbnailFormat, ThumbnailSize } from "./image.js";
import type { AttachmentKind } from "./mime.js";
import { loadSource, type AttachmentSource, type ByteStream, type LoadContext, type LoadedSource } from "./source.js";

/**
 * Metadata already known about a file, in the spec's `info` field names.
 * Known values are used as given and spare probing; other keys are sent along in `info`.
 */
export interface AttachmentInfo {
  mimetype?: string;
  size?: number;
  /** Width in pixels (images, videos). */
  w?: number;
  /** Height in pixels (images, videos). */
  h?: number;
  /** Duration in milliseconds (videos, audio). */
  duration?: number;
  "xyz.amorgan.blurhash"?: string;
  [key: string]: unknown;
}

/** How to read and present an attachment. Every field is optional. */
export interface AttachmentOptions {
  /** File name shown to people and sent as `filename` (default: from the source, else `<kind>.<ext>`). */
  filename?: string;
  /** MIME type to use instead of detecting it from the bytes. */
  mimetype?: string;
  /** Force the message kind; default: from the MIME type (displayable images, `video/*`, `audio/*`, else file). */
  kind?: AttachmentKind;
  /** Known metadata; see {@link AttachmentInfo}. */
  info?: AttachmentInfo;
  /** Read width/height/duration from the file (default true). Video needs `ffprobe`. */
  probe?: boolean;
  /**
   * Thumbnail for images and videos. `"auto"` (default): videos always (their first frame, needs
   * `ffmpeg`); images when larger than `thumbnailSize`, animated, or SVG, and only if the thumbnail
   * is smaller than the original. `true`: always; `false`: never.
   */
  thumbnail?: boolean | "auto";
  /** Box the thumbnail is scaled into (default 800x600). */
  thumbnailSize?: ThumbnailSize;
  /** Thumbnail encoding (default `auto`: JPEG, PNG for transparent images). */
  thumbnailFormat?: ThumbnailFormat;
  /** Add a blurhash placeholder (`xyz.amorgan.blurhash`) to images and videos (default true). */
  blurhash?: boolean;
  /**
   * A file whose content is not what its type says (a corrupt image, an unreadable video or audio
   * clip): `"error"` (default) throws `AttachmentError: could not read image ...`; `"file"` sends it
   * as a plain `m.file` instead.
   */
  onInvalid?: "error" | "file";
  /** Cap in bytes for reading the source (default: the server's upload limit, or 100 MiB). */
  maxBytes?: number;
}

/** Options of {@link Attachment.fromUrl}. */
export interface UrlAttachmentOptions extends AttachmentOptions {
  /** Transport for this URL (default: the bot's `fetch` option, else the global `fetch`). */
  fetch?: FetchLike;
  /** Time limit of the fetch (default 60 s). */
  timeoutMs?: number;
}

/**
 * A file to send: image, video, audio clip or any other file.
 *
 * @example
 * await bot.sendAttachment(roomId, Attachment.fromPath("./cat.jpg"), { caption: "look at this **cat**" });
 * await bot.sendAttachment(roomId, Attachment.fromBytes(csv, { filename: "report.csv" }));
 * await bot.sendMessage(roomId, { file: Attachment.fromUrl("https://example.org/a.png"), caption: "from the web" });
 * await bot.sendAttachment(roomId, Attachment.fromMxc("mxc://example.org/abc", { mimetype: "application/pdf", filename: "a.pdf" }));
 */
export class Attachment {
  /** Where the bytes come from. */
  readonly source: AttachmentSource;
  /** How the attachment is read and presented. */
  readonly options: Readonly<UrlAttachmentOptions>;
  #loaded: Promise<LoadedSource> | undefined;

  private constructor(source: AttachmentSource, options: UrlAttachmentOptions) {
    this.source = source;
    this.options = { ...options };
  }

  /** A file on disk; its size is checked against the limit before it is read. */
  static fromPath(path: string, options: AttachmentOptions = {}): Attachment {
    return new Attachment({ type: "path", path }, options);
  }

  /** Bytes in memory (a `Buffer` is a `Uint8Array`). Give a `filename`, or one is made up from the type. */
  static fromBytes(bytes: Uint8Array | ArrayBuffer, options: AttachmentOptions = {}): Attachment {
    return new Attachment({ type: "bytes", bytes: bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes) }, options);
  }

  /** A stream (Node `Readable`, web `ReadableStream`), read once, up to the size cap. */
  static fromStream(stream: ByteStream, options: AttachmentOptions = {}): Attachment {
    return new Attachment({ type: "stream", stream }, options);
  }

  /** An http(s) URL, fetched when sent (size-capped; `Content-Length` checked first). */
  static fromUrl(url: string | URL, options: UrlAttachmentOptions = {}): Attachment {
    const { fetch, ...rest } = options;
    return new Attachment({ type: "url", url: String(url), ...(fetch ? { fetch } : {}) }, rest);
  }

  /**
   * A file already in the content repository: an `mxc://` URI, or an `EncryptedFile` from a
   * received event. It is referenced as is when everything the message needs is known (give
   * `mimetype`, and for media `info` plus `thumbnail: false`/`blurhash: false`), and downloaded
   * otherwise, or when it has to be (re-)encrypted for the target room.
   */
  static fromMxc(mxc: string | EncryptedFile, options: AttachmentOptions = {}): Attachment {
    if (typeof mxc === "string" ? !mxc.startsWith("mxc://") : !isEncryptedFile(mxc)) {
      throw new AttachmentError("fromMxc: expected an mxc:// URI or an EncryptedFile");
    }
    return new Attachment({ type: "mxc", mxc }, options);
  }

  /**
   * Picks the source type from a string: `mxc://` URI, `http(s)://` URL, else a path.
   *
   * @example
   * Attachment.from(process.argv[2])
   */
  static from(location: string, options: UrlAttachmentOptions = {}): Attachment {
    if (location.startsWith("mxc://")) return Attachment.fromMxc(location, options);
    if (/^https?:\/\//i.test(location)) return Attachment.fromUrl(location, options);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) && !isAbsolute(location)) throw new AttachmentError(`unsupported attachment location ${JSON.stringify(location)}`);
    return Attachment.fromPath(location, options);
  }

  /** A copy with some options changed (the source, and bytes already read, are shared). */
  with(options: UrlAttachmentOptions): Attachment {
    const copy = new Attachment(this.source, { ...this.options, ...options });
    copy.#loaded = this.#loaded;
    return copy;
  }

  /**
   * Reads the bytes (once; later calls share the result). A failed read of a
   * path, URL or mxc source is retried by the next call; a stream can only be read once.
   */
  load(ctx: LoadContext): Promise<LoadedSource> {
    if (!this.#loaded) {
      const loading = loadSource(this.source, {
        ...ctx,
        ...(this.options.maxBytes !== undefined ? { maxBytes: this.options.maxBytes } : {}),
        ...(this.options.timeoutMs !== undefined ? { timeoutMs: this.options.timeoutMs } : {}),
      });
      this.#loaded = loading;
      if (this.source.type !== "stream") loading.catch(() => { if (this.#loaded === loading) this.#loaded = undefined; });
    }
    return this.#loaded;
  }
}
