/**
 * Attachments and media: files, images, videos and audio clips from paths,
 * bytes, streams, URLs and `mxc://` URIs, with metadata, thumbnails,
 * blurhashes, encryption for encrypted rooms, upload limits, and downloads
 * through authenticated media.
 *
 * @example
 * import { Attachment } from "niobot";
 * await bot.sendAttachment(roomId, Attachment.fromPath("./cat.jpg"), { caption: "a cat" });
 * const { bytes, contentType } = await bot.media.download(event.content.file ?? event.content.url);
 *
 * @module
 */
export { Attachment, type AttachmentInfo, type AttachmentOptions, type UrlAttachmentOptions } from "./attachment.js";
export { buildAttachmentContent, type AttachmentContent, type AttachmentContentOptions } from "./content.js";
export {
  decryptAttachment,
  encryptAttachment,
  isEncryptedFile,
  unpaddedBase64,
  urlSafeBase64,
  type EncryptedAttachment,
  type EncryptedFile,
  type EncryptedFileKey,
} from "./encryption.js";
export { AttachmentDecryptionError, AttachmentError, AttachmentTooLargeError, MissingToolError } from "./errors.js";
export { DEFAULT_THUMBNAIL_SIZE, blurhashOf, makeThumbnail, probeImage, type EncodedImage, type ImageProbe, type ThumbnailFormat, type ThumbnailSize } from "./image.js";
export { MediaClient, filenameFromDisposition, parseMxc, type DownloadedMedia, type MediaClientOptions } from "./media.js";
export { detectMimeType, extensionForMime, kindForMime, mimeFromFilename, type AttachmentKind } from "./mime.js";
export { DEFAULT_MAX_BYTES, prepareAttachment, type PrepareContext, type PreparedAttachment } from "./prepare.js";
export { probeAudio, probeVideo, type VideoProbe } from "./probe.js";
export { readCapped, type AttachmentSource, type ByteStream, type LoadContext, type LoadedSource } from "./source.js";
export {
  attachmentContent,
  isAttachmentMessage,
  roomNeedsEncryption,
  sendAttachment,
  uploadAttachment,
  type AttachmentHost,
  type AttachmentMessage,
  type SendAttachmentOptions,
} from "./send.js";
export { uploadPrepared, type ThumbnailInfo, type UploadedAttachment } from "./upload.js";

