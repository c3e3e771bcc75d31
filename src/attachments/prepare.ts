/**
 * Turns an {@link Attachment} into what a message needs: bytes, file name,
 * MIME type, kind, the `info` metadata and a thumbnail, or a reference to a
 * file already on the server when nothing has to be read.
 *
 * @module
 */
import type { Attachment, AttachmentInfo } from "./attachment.js";
import type { EncryptedFile } from "./encryption.js";
import { AttachmentError, MissingToolError } from "./errors.js";
import { DEFAULT_THUMBNAIL_SIZE, blurhashOf, makeThumbnail, probeImage, verifyImage, type EncodedImage } from "./image.js";
import { detectMimeType, extensionForMime, kindForMime, type AttachmentKind } from "./mime.js";
import { probeAudio, probeVideo } from "./probe.js";
import type { LoadContext } from "./source.js";

/** The cap for URL and stream sources when neither the caller nor the server names one. */
export const DEFAULT_MAX_BYTES = 100 * 1024 * 1024;

/** An attachment ready to upload, or to reference as is. */
export interface PreparedAttachment {
  kind: AttachmentKind;
  filename: string;
  mimetype: string;
  /** The bytes to upload; absent when `reference` is used instead. */
  bytes?: Uint8Array;
  /** The existing file to point at (an mxc source that needs no download). */
  reference?: { url: string } | { file: EncryptedFile };
  /** `info` fields without thumbnail ones: mimetype, size, w, h, duration, is_animated, blurhash, extras. */
  info: AttachmentInfo;
  thumbnail?: EncodedImage;
}

/** What {@link prepareAttachment} needs from the caller. */
export interface PrepareContext extends Omit<LoadContext, "maxBytes"> {
  /** Cap for reading the source, normally the server's upload limit. */
  maxBytes?: number;
  /** Whether the target room is encrypted (decides whether an mxc source can be referenced as is). */
  encrypt: boolean;
  /** Called with the file's size as soon as it is known, before any probing: throws when over the limit. */
  checkSize?: (size: number, what: string) => Promise<void>;
}

/**
 * Reads, detects, probes and thumbnails an attachment.
 *
 * @throws {@link AttachmentError} (corrupt media unless `onInvalid: "file"`), {@link MissingToolError},
 *   {@link AttachmentTooLargeError}.
 */
export async function prepareAttachment(attachment: Attachment, ctx: PrepareContext): Promise<PreparedAttachment> {
  const o = attachment.options;
  const reference = referenceAsIs(attachment, ctx.encrypt);
  if (reference) return reference;

  const loaded = await attachment.load({ ...ctx, maxBytes: o.maxBytes ?? ctx.maxBytes ?? DEFAULT_MAX_BYTES });
  const bytes = loaded.bytes;
  const given = o.filename ?? loaded.filename;
  await ctx.checkSize?.(bytes.length, given ?? "file");
  const mimetype = o.mimetype ?? o.info?.mimetype ?? (await detectMimeType(bytes, given, loaded.contentType));
  let kind = o.kind ?? kindForMime(mimetype);
  const filename = given ?? `${kind}.${extensionForMime(mimetype) ?? "bin"}`;

  let media: { info: AttachmentInfo; thumbnail?: EncodedImage } = { info: {} };
  if (kind !== "file") {
    try {
      media = await probeMedia(attachment, kind, bytes, mimetype, filename);
    } catch (error) {
      if (o.onInvalid !== "file" || !(error instanceof AttachmentError) || error instanceof MissingToolError) throw error;
      kind = "file";
    }
  }
  return {
    kind,
    filename,
    mimetype,
    bytes,
    info: { ...media.info, ...o.info, mimetype, size: bytes.length },
    ...(media.thumbnail ? { thumbnail: media.thumbnail } : {}),
  };
}

/** Metadata, thumbnail and blurhash of an image, video or audio clip. */
async function probeMedia(attachment: Attachment, kind: AttachmentKind, bytes: Uint8Array, mimetype: string, name: string): Promise<{ info: AttachmentInfo; thumbnail?: EncodedImage }> {
  const o = attachment.options;
  const box = o.thumbnailSize ?? DEFAULT_THUMBNAIL_SIZE;
  const thumbnailMode = o.thumbnail ?? "auto";
  const info: AttachmentInfo = {};
  let thumbnail: EncodedImage | undefined;

  if (kind === "image") {
    // Images are always decoded in full (even with probe: false): it is what catches corrupt
    // ones. The thumbnail or the blurhash does it; failing both, verifyImage below.
    const image = await probeImage(bytes, name, false);
    if (o.probe !== false) Object.assign(info, { w: image.width, h: image.height });
    if (image.isAnimated !== undefined) info.is_animated = image.isAnimated;
    const oversized = image.width > box.width || image.height > box.height;
    const special = image.isAnimated === true || mimetype === "image/svg+xml";
    let decoded = false;
    if (thumbnailMode === true || (thumbnailMode === "auto" && (oversized || special))) {
      const made = await makeThumbnail(bytes, box, o.thumbnailFormat, name);
      decoded = true;
      // A thumbnail heavier than the original saves clients nothing.
      if (thumbnailMode === true || special || made.bytes.length < bytes.length) thumbnail = made;
    }
    if (o.blurhash !== false) {
      info["xyz.amorgan.blurhash"] = await blurhashOf(thumbnail?.bytes ?? bytes, name);
      decoded ||= thumbnail === undefined;
    }
    if (!decoded) await verifyImage(bytes, name);
  } else if (kind === "video") {
    const known = o.info?.w !== undefined && o.info.h !== undefined && o.info.duration !== undefined;
    const wantFrame = thumbnailMode !== false;
    if ((o.probe !== false && !known) || wantFrame) {
      const video = await probeVideo(bytes, name, wantFrame);
      if (o.probe !== false) {
        if (video.width !== undefined) Object.assign(info, { w: video.width, h: video.height });
        if (video.durationMs !== undefined) info.duration = video.durationMs;
      }
      if (video.frame) {
        thumbnail = await makeThumbnail(video.frame, box, o.thumbnailFormat, `first frame of ${name}`);
        if (o.blurhash !== false) info["xyz.amorgan.blurhash"] = await blurhashOf(thumbnail.bytes, name);
      }
    }
  } else if (kind === "audio" && o.probe !== false && o.info?.duration === undefined) {
    const audio = await probeAudio(bytes, mimetype, name);
    if (audio.durationMs !== undefined) info.duration = audio.durationMs;
  }
  return { info, ...(thumbnail ? { thumbnail } : {}) };
}

/**
 * An mxc source is sent without downloading when its type is known, nothing
 * needs probing or thumbnailing, and its encryption already suits the room.
 */
function referenceAsIs(attachment: Attachment, encrypt: boolean): PreparedAttachment | undefined {
  const { source, options: o } = attachment;
  if (source.type !== "mxc") return undefined;
  const encryptedSource = typeof source.mxc !== "string";
  if (encryptedSource !== encrypt) return undefined;
  const mimetype = o.mimetype ?? o.info?.mimetype;
  if (mimetype === undefined) return undefined;
  const kind = o.kind ?? kindForMime(mimetype);
  const info = o.info ?? {};
  const visual = kind === "image" || kind === "video";
  if (visual && o.thumbnail === true) return undefined;
  if (visual && o.thumbnail !== false && (kind === "video" || info.w === undefined || info.h === undefined ||
      info.w > (o.thumbnailSize ?? DEFAULT_THUMBNAIL_SIZE).width || info.h > (o.thumbnailSize ?? DEFAULT_THUMBNAIL_SIZE).height)) return undefined;
  if (visual && o.blurhash !== false && info["xyz.amorgan.blurhash"] === undefined) return undefined;
  if (o.probe !== false) {
    if (visual && (info.w === undefined || info.h === undefined)) return undefined;
    if ((kind === "video" || kind === "audio") && info.duration === undefined) return undefined;
  }
  const url = typeof source.mxc === "string" ? source.mxc : source.mxc.url;
  const mediaId = url.slice(url.lastIndexOf("/") + 1);
  const filename = o.filename ?? `${mediaId}.${extensionForMime(mimetype) ?? "bin"}`;
  return {
    kind,
    filename,
    mimetype,
    reference: typeof source.mxc === "string" ? { url: source.mxc } : { file: source.mxc },
    info: { ...info, mimetype },
  };
}
