/**
 * MIME type detection from a file's bytes (magic numbers, through the
 * `file-type` package), with the file name's extension as fallback and
 * `application/octet-stream` as the last resort. The bytes win over the name:
 * a PNG called `photo.jpg` is sent as `image/png`.
 *
 * @module
 */
import { extname } from "node:path";

/** How an attachment is sent: the `m.room.message` msgtype it becomes. */
export type AttachmentKind = "file" | "image" | "video" | "audio";

/** Extensions of common types, for bytes without a recognisable signature (mostly text formats). */
const EXTENSIONS: Readonly<Record<string, string>> = {
  txt: "text/plain", log: "text/plain", md: "text/markdown", csv: "text/csv", tsv: "text/tab-separated-values",
  html: "text/html", htm: "text/html", css: "text/css", js: "text/javascript", mjs: "text/javascript",
  ts: "text/x-typescript", json: "application/json", xml: "application/xml", yaml: "application/yaml", yml: "application/yaml",
  toml: "application/toml", ics: "text/calendar", vcf: "text/vcard", srt: "application/x-subrip", vtt: "text/vtt",
  svg: "image/svg+xml", png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp",
  avif: "image/avif", bmp: "image/bmp", ico: "image/x-icon", tif: "image/tiff", tiff: "image/tiff", heic: "image/heic",
  mp4: "video/mp4", m4v: "video/mp4", webm: "video/webm", mkv: "video/x-matroska", mov: "video/quicktime", avi: "video/x-msvideo",
  mp3: "audio/mpeg", m4a: "audio/mp4", aac: "audio/aac", ogg: "audio/ogg", oga: "audio/ogg", opus: "audio/ogg", flac: "audio/flac", wav: "audio/wav",
  pdf: "application/pdf", zip: "application/zip", gz: "application/gzip", tar: "application/x-tar", "7z": "application/x-7z-compressed",
  doc: "application/msword", docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xls: "application/vnd.ms-excel", xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ppt: "application/vnd.ms-powerpoint", pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  odt: "application/vnd.oasis.opendocument.text", epub: "application/epub+zip", wasm: "application/wasm",
};

/**
 * Image types sent as `m.image`: the ones clients display and the image
 * library reads. Others (BMP, TIFF, HEIC, PSD...) go out as `m.file`.
 */
const DISPLAYABLE_IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/svg+xml"]);

/** MIME type from a file name's extension, or undefined. */
export function mimeFromFilename(filename: string | undefined): string | undefined {
  if (!filename) return undefined;
  const ext = extname(filename).slice(1).toLowerCase();
  return ext ? EXTENSIONS[ext] : undefined;
}

/** A conventional extension for a MIME type (for names of files that came without one). */
export function extensionForMime(mimetype: string): string | undefined {
  const base = mimetype.split(";")[0]?.trim().toLowerCase();
  if (base === "image/jpeg") return "jpg";
  if (base === "audio/ogg") return "ogg";
  if (base === "text/plain") return "txt";
  for (const [ext, mime] of Object.entries(EXTENSIONS)) if (mime === base) return ext;
  return undefined;
}

/**
 * Detects the MIME type of a file: its signature first, then its name, then
 * `hint` (a `Content-Type` a web server sent), then whether it is UTF-8 text,
 * else `application/octet-stream`.
 *
 * @example
 * await detectMimeType(pngBytes, "cat.jpg") // "image/png"
 * await detectMimeType(new TextEncoder().encode("a,b\n1,2"), "data.csv") // "text/csv"
 */
export async function detectMimeType(bytes: Uint8Array, filename?: string, hint?: string): Promise<string> {
  // Loaded on first use, like the other media libraries.
  const { fileTypeFromBuffer } = await import("file-type");
  const detected = await fileTypeFromBuffer(bytes).catch(() => undefined);
  // Zip-based and XML-based documents are detected by content only in part; a
  // more specific name (docx over zip, svg over xml) is then the better answer.
  const byName = mimeFromFilename(filename);
  if (detected) {
    if (detected.mime === "application/xml" && looksLikeSvg(bytes)) return "image/svg+xml";
    if ((detected.mime === "application/zip" || detected.mime === "application/xml") && byName) return byName;
    return detected.mime;
  }
  if (byName) return byName;
  const hinted = hint?.split(";")[0]?.trim().toLowerCase();
  if (hinted && /^[a-z]+\/[a-z0-9.+-]+$/.test(hinted) && hinted !== "application/octet-stream") return hinted;
  if (looksLikeSvg(bytes)) return "image/svg+xml";
  return looksLikeText(bytes) ? "text/plain" : "application/octet-stream";
}

/**
 * The kind of message a MIME type becomes: displayable images are `image`,
 * `video/*` is `video`, `audio/*` is `audio`, anything else `file`.
 *
 * @example
 * kindForMime("image/png") // "image"
 * kindForMime("image/tiff") // "file": clients cannot show it inline
 */
export function kindForMime(mimetype: string): AttachmentKind {
  const base = mimetype.split(";")[0]?.trim().toLowerCase() ?? "";
  if (DISPLAYABLE_IMAGES.has(base)) return "image";
  if (base.startsWith("video/")) return "video";
  if (base.startsWith("audio/")) return "audio";
  return "file";
}

function looksLikeSvg(bytes: Uint8Array): boolean {
  const head = new TextDecoder().decode(bytes.subarray(0, 1024)).trimStart();
  return /^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]/i.test(head);
}

/** UTF-8 without NUL bytes or other control characters (tab, CR, LF, FF aside), checked on the first 8 KiB. */
function looksLikeText(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  // Cutting a multi-byte character at the 8 KiB edge must not count as invalid.
  const sample = bytes.subarray(0, 8192);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(sample, { stream: sample.length < bytes.length });
  } catch {
    return false;
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0c && c !== 0x0d) || c === 0x7f) return false;
  }
  return true;
}
