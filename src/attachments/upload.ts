/**
 * Uploads a prepared attachment and its thumbnail: encrypted (each with its
 * own key and IV) for encrypted rooms, plain otherwise. Both sizes are
 * checked against the server's limit before the first byte goes out.
 *
 * @module
 */
import type { CallOptions } from "../api/client.js";
import type { AttachmentInfo } from "./attachment.js";
import { encryptAttachment, type EncryptedFile } from "./encryption.js";
import type { EncodedImage } from "./image.js";
import type { MediaClient } from "./media.js";
import type { AttachmentKind } from "./mime.js";
import type { PreparedAttachment } from "./prepare.js";

/** The spec's `thumbnail_info`. */
export interface ThumbnailInfo {
  w: number;
  h: number;
  mimetype: string;
  size: number;
}

/** An uploaded attachment: everything its message content needs. */
export interface UploadedAttachment {
  kind: AttachmentKind;
  filename: string;
  /** The file, for unencrypted rooms. */
  url?: string;
  /** The file, for encrypted rooms. */
  file?: EncryptedFile;
  /** The message's `info`, with `thumbnail_url`/`thumbnail_file` and `thumbnail_info` when there is a thumbnail. */
  info: AttachmentInfo & { thumbnail_url?: string; thumbnail_file?: EncryptedFile; thumbnail_info?: ThumbnailInfo };
}

/**
 * Uploads `prepared` (unless it references an existing file).
 *
 * @throws {@link AttachmentTooLargeError} before any upload when the file or its thumbnail is over the limit.
 */
export async function uploadPrepared(media: MediaClient, prepared: PreparedAttachment, opts: { encrypt: boolean } & CallOptions): Promise<UploadedAttachment> {
  const { kind, filename, info } = prepared;
  if (prepared.reference) return { kind, filename, info, ...prepared.reference };
  const bytes = prepared.bytes ?? new Uint8Array();
  const thumb = prepared.thumbnail;
  await media.checkSize(bytes.length, filename, opts);
  if (thumb) await media.checkSize(thumb.bytes.length, `thumbnail of ${filename}`, opts);

  const out: UploadedAttachment = { kind, filename, info: { ...info } };
  if (thumb) {
    const stored = await store(media, thumb.bytes, thumb.mimetype, thumbnailName(filename, thumb), opts);
    if (typeof stored === "string") out.info.thumbnail_url = stored;
    else out.info.thumbnail_file = stored;
    out.info.thumbnail_info = { w: thumb.width, h: thumb.height, mimetype: thumb.mimetype, size: thumb.bytes.length };
  }
  const stored = await store(media, bytes, prepared.mimetype, filename, opts);
  if (typeof stored === "string") out.url = stored;
  else out.file = stored;
  return out;
}

/** Uploads plain bytes (returns the mxc URI) or encrypts them first (returns the `EncryptedFile`). */
async function store(media: MediaClient, bytes: Uint8Array, mimetype: string, filename: string, opts: { encrypt: boolean } & CallOptions): Promise<string | EncryptedFile> {
  if (!opts.encrypt) return media.upload(bytes, mimetype, filename, { signal: opts.signal });
  const { data, info } = encryptAttachment(bytes);
  // Neither the type nor the name goes to the server: the room event (encrypted) carries both.
  const url = await media.upload(data, "application/octet-stream", undefined, { signal: opts.signal });
  return { url, ...info };
}

function thumbnailName(filename: string, thumb: EncodedImage): string {
  const stem = filename.replace(/\.[^./]*$/, "") || "file";
  const ext = thumb.mimetype === "image/jpeg" ? "jpg" : thumb.mimetype.slice("image/".length);
  return `thumbnail-${stem}.${ext}`;
}
