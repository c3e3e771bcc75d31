/**
 * Sending attachments: prepare, encrypt when the room is encrypted, upload,
 * build the content and hand it to the bot's single outgoing path.
 *
 * @module
 */
import type { MatrixApi } from "../api/client.js";
import type { FetchLike } from "../api/http.js";
import { EncryptionRequiredError } from "../crypto/errors.js";
import { Attachment } from "./attachment.js";
import { buildAttachmentContent, type AttachmentContent, type AttachmentContentOptions } from "./content.js";
import type { MediaClient } from "./media.js";
import { DEFAULT_MAX_BYTES, prepareAttachment } from "./prepare.js";
import { uploadPrepared, type UploadedAttachment } from "./upload.js";

/** What sending an attachment needs from the bot (`NioBot` provides all of it). */
export interface AttachmentHost {
  readonly api: MatrixApi;
  readonly media: MediaClient;
  readonly userId: string;
  readonly options: { readonly fetch?: FetchLike };
  /** Whether the bot can encrypt room events; when false, encrypted rooms are refused before uploading. */
  readonly encryptionEnabled?: boolean;
  /** The room's encryption settings, undefined when it is definitely unencrypted; throws when it cannot tell. */
  roomEncryption(roomId: string, options?: { signal?: AbortSignal }): Promise<unknown>;
  sendEvent(roomId: string, eventType: string, content: Record<string, unknown>): Promise<string>;
}

/** Options of {@link sendAttachment}. */
export interface SendAttachmentOptions extends AttachmentContentOptions {
  /** Encrypt the file (default: whether the room is encrypted). */
  encrypt?: boolean;
  /** Cancels reading, probing waits and uploads. */
  signal?: AbortSignal;
}

/**
 * A message with a file, for `bot.sendMessage(roomId, { file, caption })`.
 *
 * @example
 * await bot.sendMessage(roomId, { file: Attachment.fromPath("plot.png"), caption: "the plot" });
 */
export interface AttachmentMessage {
  file: Attachment;
  caption?: string;
}

/** Tells an {@link AttachmentMessage} from raw message content (whose `file` would be an `EncryptedFile`). */
export function isAttachmentMessage(value: unknown): value is AttachmentMessage {
  return typeof value === "object" && value !== null && (value as { file?: unknown }).file instanceof Attachment;
}

/**
 * Whether files sent to a room must be encrypted: the bot's one fail-closed
 * decision (`bot.roomEncryption`), the same one its messages go through.
 */
export async function roomNeedsEncryption(host: AttachmentHost, roomId: string, signal?: AbortSignal): Promise<boolean> {
  return (await host.roomEncryption(roomId, signal ? { signal } : {})) !== undefined;
}

/**
 * Prepares and uploads an attachment for a room; returns what its message
 * needs. The first step of {@link sendAttachment}, for callers that send the
 * content their own way.
 *
 * @throws `EncryptionRequiredError` for an encrypted room when the bot runs without encryption.
 */
export async function uploadAttachment(host: AttachmentHost, roomId: string, attachment: Attachment, options: { encrypt?: boolean; signal?: AbortSignal } = {}): Promise<UploadedAttachment> {
  const encrypt = options.encrypt ?? (await roomNeedsEncryption(host, roomId, options.signal));
  // The event could not be sent anyway: fail before reading and uploading the file.
  if (encrypt && options.encrypt === undefined && host.encryptionEnabled === false) throw new EncryptionRequiredError(roomId);
  const signal = options.signal;
  const limit = await host.media.uploadLimit({ signal });
  const prepared = await prepareAttachment(attachment, {
    encrypt,
    maxBytes: limit ?? DEFAULT_MAX_BYTES,
    ...(host.options.fetch ? { fetch: host.options.fetch } : {}),
    download: (source) => host.media.download(source, { signal }),
    checkSize: (size, what) => host.media.checkSize(size, what, { signal }),
    ...(signal ? { signal } : {}),
  });
  signal?.throwIfAborted();
  return uploadPrepared(host.media, prepared, { encrypt, signal });
}

/**
 * Uploads an attachment and builds its message content (without sending it),
 * e.g. to send it as a reply through another path.
 */
export async function attachmentContent(host: AttachmentHost, roomId: string, attachment: Attachment, options: SendAttachmentOptions = {}): Promise<AttachmentContent> {
  const { encrypt, signal, ...content } = options;
  const uploaded = await uploadAttachment(host, roomId, attachment, { ...(encrypt !== undefined ? { encrypt } : {}), ...(signal ? { signal } : {}) });
  return buildAttachmentContent(uploaded, { ownUserId: host.userId, ...content });
}

/**
 * Sends an attachment to a room; returns the event id.
 *
 * @example
 * await sendAttachment(bot, roomId, Attachment.fromPath("chart.png"), { caption: "today's numbers" });
 */
export async function sendAttachment(host: AttachmentHost, roomId: string, attachment: Attachment, options: SendAttachmentOptions = {}): Promise<string> {
  const content = await attachmentContent(host, roomId, attachment, options);
  return host.sendEvent(roomId, "m.room.message", content);
}
