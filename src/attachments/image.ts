/**
 * Image metadata, thumbnails and blurhashes, through `sharp` (libvips). Every
 * decode runs with `failOn: "warning"`, so a truncated or corrupt image is an
 * {@link AttachmentError} here rather than a broken picture in clients.
 *
 * @module
 */
import type { Sharp } from "sharp";
import { AttachmentError, messageOf } from "./errors.js";

/** Width/height box a thumbnail is scaled into (never enlarged). */
export interface ThumbnailSize {
  width: number;
  height: number;
}

/** Thumbnail encoding: `auto` is JPEG, or PNG when the image has transparency. */
export type ThumbnailFormat = "auto" | "jpeg" | "png" | "webp";

/** The spec's recommended largest thumbnail (the content repository's 800x600 "scale"). */
export const DEFAULT_THUMBNAIL_SIZE: ThumbnailSize = { width: 800, height: 600 };

/** What {@link probeImage} learns about an image. */
export interface ImageProbe {
  /** Display width: after applying the EXIF orientation. */
  width: number;
  /** Display height: after applying the EXIF orientation. */
  height: number;
  /** Whether it has an alpha channel. */
  hasAlpha: boolean;
  /** `true`/`false` for GIF and WebP (the formats whose frames libvips counts), else unknown. */
  isAnimated: boolean | undefined;
}

/** An encoded image: thumbnail bytes and their metadata. */
export interface EncodedImage {
  bytes: Uint8Array;
  mimetype: string;
  width: number;
  height: number;
}

// Pixel-count cap against decompression bombs (a 100-megapixel photo still passes).
const LIMIT_INPUT_PIXELS = 268_402_689;

// sharp (libvips) and blurhash load on first use: a bot that never sends an
// image should not pay their memory (about 15 MB resident for libvips).
let sharpModule: Promise<typeof import("sharp")> | undefined;
let blurhashModule: Promise<typeof import("blurhash")> | undefined;

async function open(bytes: Uint8Array, animated = false): Promise<Sharp> {
  const { default: sharp } = await (sharpModule ??= import("sharp"));
  return sharp(bytes, { failOn: "warning", limitInputPixels: LIMIT_INPUT_PIXELS, animated });
}

/** Wraps a libvips failure into the layer's error, naming the file. */
function imageError(name: string, error: unknown): AttachmentError {
  return new AttachmentError(`could not read image ${JSON.stringify(name)}: ${messageOf(error)}`, { cause: error });
}

/**
 * Reads an image's display size and flags. With `verify` (default) the pixels
 * are decoded too (into a throwaway 1x1 sample), because a header can be
 * intact while the data is not; skip it only when a thumbnail or blurhash
 * will decode the image anyway.
 *
 * @throws {@link AttachmentError} `could not read image ...` for unreadable or corrupt data.
 */
export async function probeImage(bytes: Uint8Array, name = "image", verify = true): Promise<ImageProbe> {
  try {
    const meta = await (await open(bytes)).metadata();
    if (verify) await verifyPixels(bytes);
    const { width, height } = meta.autoOrient;
    if (!width || !height) throw new Error("image has no dimensions");
    const animatable = meta.format === "gif" || meta.format === "webp";
    return { width, height, hasAlpha: meta.hasAlpha, isAnimated: animatable ? (meta.pages ?? 1) > 1 : undefined };
  } catch (error) {
    throw imageError(name, error);
  }
}

/** Decodes every pixel (into a 1x1 sample); throws on corrupt data. */
async function verifyPixels(bytes: Uint8Array): Promise<void> {
  await (await open(bytes)).resize(1, 1, { fit: "fill" }).raw().toBuffer();
}

/**
 * Checks that an image decodes completely.
 *
 * @throws {@link AttachmentError} `could not read image ...` for corrupt data.
 */
export async function verifyImage(bytes: Uint8Array, name = "image"): Promise<void> {
  try {
    await verifyPixels(bytes);
  } catch (error) {
    throw imageError(name, error);
  }
}

/**
 * Scales an image (its first frame, upright) into `size` and encodes it.
 *
 * @example
 * const thumb = await makeThumbnail(photoBytes, { width: 800, height: 600 });
 * // { bytes, mimetype: "image/jpeg", width: 800, height: 533 }
 */
export async function makeThumbnail(bytes: Uint8Array, size: ThumbnailSize = DEFAULT_THUMBNAIL_SIZE, format: ThumbnailFormat = "auto", name = "image"): Promise<EncodedImage> {
  try {
    const base = (await open(bytes)).autoOrient().resize(size.width, size.height, { fit: "inside", withoutEnlargement: true });
    const chosen = format === "auto" ? ((await (await open(bytes)).metadata()).hasAlpha ? "png" : "jpeg") : format;
    const encoded = chosen === "png" ? base.png({ compressionLevel: 9 })
      : chosen === "webp" ? base.webp({ quality: 80 })
      : base.flatten({ background: "#ffffff" }).jpeg({ quality: 80, mozjpeg: true });
    const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
    return { bytes: new Uint8Array(data), mimetype: `image/${chosen}`, width: info.width, height: info.height };
  } catch (error) {
    throw imageError(name, error);
  }
}

/**
 * Encodes a blurhash (the `xyz.amorgan.blurhash` placeholder clients paint
 * while the image loads), from a small upright RGBA copy of the image.
 *
 * @example
 * await blurhashOf(photoBytes) // "LEHV6nWB2yk8pyo0adR*.7kCMdnj"
 */
export async function blurhashOf(bytes: Uint8Array, name = "image"): Promise<string> {
  try {
    const { data, info } = await (await open(bytes))
      .autoOrient()
      .resize(32, 32, { fit: "inside" })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    // 4x3 components for landscape, 3x4 for portrait: enough detail for a placeholder.
    const [cx, cy] = info.width >= info.height ? [4, 3] : [3, 4];
    const { encode: encodeBlurhash } = await (blurhashModule ??= import("blurhash"));
    return encodeBlurhash(new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength), info.width, info.height, cx, cy);
  } catch (error) {
    throw imageError(name, error);
  }
}
