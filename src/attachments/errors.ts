/**
 * Error classes of the attachments layer. Every failure to read, probe,
 * encrypt, upload or download a file ends in one of these (or a
 * `MatrixError` from the server), never in a crash of the bot.
 *
 * @module
 */

/**
 * An attachment could not be prepared: unreadable source, corrupt image,
 * unsupported input.
 *
 * @example
 * try { await bot.sendAttachment(roomId, Attachment.fromPath("broken.png")); }
 * catch (e) { if (e instanceof AttachmentError) await bot.sendMessage(roomId, e.message); }
 */
export class AttachmentError extends Error {
  override readonly name: string = "AttachmentError";
}

/**
 * The file is larger than allowed: the homeserver's upload limit
 * (`m.upload.size`), or the `maxBytes` cap of a URL/stream source. Thrown
 * before anything is uploaded.
 */
export class AttachmentTooLargeError extends AttachmentError {
  override readonly name = "AttachmentTooLargeError";
  /** Size of the file in bytes (or a lower bound when reading stopped at the cap). */
  readonly size: number;
  /** The limit in bytes. */
  readonly limit: number;

  constructor(what: string, size: number, limit: number, atLeast = false) {
    super(`${what} is too large: ${atLeast ? "more than " : ""}${formatBytes(size)} (${size} bytes), limit ${formatBytes(limit)} (${limit} bytes)`);
    this.size = size;
    this.limit = limit;
  }
}

/** An encrypted file failed to decrypt: malformed `EncryptedFile`, or the ciphertext hash does not match. */
export class AttachmentDecryptionError extends AttachmentError {
  override readonly name = "AttachmentDecryptionError";
}

/**
 * A tool the attachment needs is not installed (`ffprobe`/`ffmpeg` for
 * video metadata and thumbnails).
 */
export class MissingToolError extends AttachmentError {
  override readonly name = "MissingToolError";
  /** The executable that was not found, e.g. `ffprobe`. */
  readonly tool: string;

  constructor(tool: string, purpose: string) {
    super(
      `${tool} was not found: it is needed for ${purpose}. Install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg), ` +
        `set NIOBOT_${tool.toUpperCase()} to its path, or skip probing with { probe: false, thumbnail: false }.`,
    );
    this.tool = tool;
  }
}

/** `1.5 MiB`, for error messages. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit] ?? "TiB"}`;
}

/** The message of any thrown value. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
