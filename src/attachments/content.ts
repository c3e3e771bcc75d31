/**
 * `m.room.message` content for files, images, videos and audio clips, with
 * captions as the spec (v1.10+) defines them: `filename` always holds the
 * file name; `body` holds the caption when there is one (and may then be
 * formatted), else the file name again.
 *
 * @module
 */
import { buildMessageContent, mergeContent, type MessageOptions } from "../content/message.js";
import type { UploadedAttachment } from "./upload.js";

/** Options of an attachment message: a caption plus everything a text message takes but `msgtype`. */
export interface AttachmentContentOptions extends Omit<MessageOptions, "msgtype"> {
  /** Caption shown with the file, rendered like a message (markdown by default; see `format`). */
  caption?: string;
}

/** `m.room.message` content of an attachment. */
export interface AttachmentContent {
  msgtype: "m.file" | "m.image" | "m.video" | "m.audio";
  body: string;
  filename: string;
  url?: string;
  file?: UploadedAttachment["file"];
  info: UploadedAttachment["info"];
  format?: string;
  formatted_body?: string;
  "m.mentions"?: { user_ids?: string[]; room?: boolean };
  [key: string]: unknown;
}

/**
 * Builds the content of an attachment message.
 *
 * @example
 * buildAttachmentContent({ kind: "image", filename: "dog.jpg", url: "mxc://x/abc", info: { mimetype: "image/jpeg", size: 27253, w: 479, h: 640 } },
 *   { caption: "this is a ~~cat~~ picture :3" })
 * // { msgtype: "m.image", body: "this is a ~~cat~~ picture :3", filename: "dog.jpg",
 * //   format: "org.matrix.custom.html", formatted_body: "<p>this is a <del>cat</del> picture :3</p>\n",
 * //   url: "mxc://x/abc", info: {...}, "m.mentions": {} }
 */
export function buildAttachmentContent(uploaded: UploadedAttachment, options: AttachmentContentOptions = {}): AttachmentContent {
  const { caption, override, ...rest } = options;
  const captioned = caption !== undefined && caption.trim() !== "" && caption !== uploaded.filename;
  // Without a caption the body is the file name: plain text, and nobody is mentioned by it.
  const text = buildMessageContent(captioned ? caption : uploaded.filename, {
    ...rest,
    ...(captioned ? {} : { format: "plain" as const, mentions: rest.mentions === undefined || rest.mentions === "detect" ? { userIds: [] } : { ...rest.mentions, detect: false } }),
  }) as Record<string, unknown>;
  const content: Record<string, unknown> = {
    ...text,
    msgtype: `m.${uploaded.kind}`,
    filename: uploaded.filename,
    ...(uploaded.file ? { file: uploaded.file } : { url: uploaded.url }),
    info: uploaded.info,
  };
  return (override === undefined ? content : mergeContent(content, override)) as AttachmentContent;
}
