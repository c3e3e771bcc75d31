import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { isBlurhashValid } from "blurhash";
import sharp from "sharp";
import { Attachment } from "../../src/attachments/attachment.js";
import { buildAttachmentContent } from "../../src/attachments/content.js";
import { decryptAttachment } from "../../src/attachments/encryption.js";
import { AttachmentError, AttachmentTooLargeError, MissingToolError } from "../../src/attachments/errors.js";
import type { MediaClient } from "../../src/attachments/media.js";
import { prepareAttachment, type PrepareContext } from "../../src/attachments/prepare.js";
import { readCapped } from "../../src/attachments/source.js";
import { uploadPrepared, type UploadedAttachment } from "../../src/attachments/upload.js";

const image: UploadedAttachment = {
  kind: "image",
  filename: "dog.jpg",
  url: "mxc://example.org/abc123",
  info: { w: 479, h: 640, mimetype: "image/jpeg", size: 27253 },
};
const ctx: PrepareContext = { encrypt: false, maxBytes: 10_000_000 };
const png = (w: number, h: number, alpha = false): Promise<Buffer> =>
  sharp({ create: { width: w, height: h, channels: alpha ? 4 : 3, background: alpha ? { r: 0, g: 0, b: 255, alpha: 0.5 } : "#8844cc" } }).png().toBuffer();

describe("buildAttachmentContent (captions per spec v1.10)", () => {
  test("the spec's captioned image example", () => {
    const content = buildAttachmentContent(image, { caption: "this is a ~~cat~~ picture :3" });
    assert.deepEqual(content, {
      msgtype: "m.image",
      url: "mxc://example.org/abc123",
      filename: "dog.jpg",
      body: "this is a ~~cat~~ picture :3",
      format: "org.matrix.custom.html",
      formatted_body: "this is a <del>cat</del> picture :3",
      info: { w: 479, h: 640, mimetype: "image/jpeg", size: 27253 },
      "m.mentions": {},
    });
  });

  test("without a caption, body is the file name and there is no formatted body", () => {
    const content = buildAttachmentContent({ ...image, kind: "file", filename: "@x:y.org notes.txt" });
    assert.equal(content.msgtype, "m.file");
    assert.equal(content.body, "@x:y.org notes.txt");
    assert.equal(content.filename, "@x:y.org notes.txt");
    assert.equal(content.format, undefined);
    assert.deepEqual(content["m.mentions"], {}, "a file name mentions nobody");
  });

  test("a caption equal to the file name is no caption; plain captions have no HTML", () => {
    assert.equal(buildAttachmentContent(image, { caption: "dog.jpg" }).formatted_body, undefined);
    const plain = buildAttachmentContent(image, { caption: "*not bold*", format: "plain" });
    assert.equal(plain.body, "*not bold*");
    assert.equal(plain.formatted_body, undefined);
  });

  test("encrypted files use `file` instead of `url`; replies, mentions and override apply", () => {
    const file = { url: "mxc://x/y", key: { kty: "oct" as const, key_ops: ["encrypt", "decrypt"], alg: "A256CTR" as const, k: "k", ext: true as const }, iv: "iv", hashes: { sha256: "h" }, v: "v2" };
    const content = buildAttachmentContent({ kind: "video", filename: "a.mp4", file, info: { mimetype: "video/mp4", size: 3 } }, {
      caption: "hi @alice:example.org",
      replyTo: { eventId: "$ev", sender: "@bob:example.org" },
      override: { info: { duration: 5 } },
    });
    assert.equal(content.url, undefined);
    assert.deepEqual(content.file, file);
    assert.equal(content.msgtype, "m.video");
    assert.deepEqual(content["m.relates_to"], { "m.in_reply_to": { event_id: "$ev" } });
    assert.deepEqual(content["m.mentions"], { user_ids: ["@alice:example.org", "@bob:example.org"] });
    assert.deepEqual(content.info, { mimetype: "video/mp4", size: 3, duration: 5 });
  });
});

describe("prepareAttachment: images", () => {
  test("a big image gets w/h, a thumbnail inside 800x600 and a blurhash", async () => {
    const bytes = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: "#336699" } }).jpeg().toBuffer();
    const p = await prepareAttachment(Attachment.fromBytes(bytes, { filename: "wide.jpg" }), ctx);
    assert.equal(p.kind, "image");
    assert.equal(p.mimetype, "image/jpeg");
    assert.deepEqual([p.info.w, p.info.h, p.info.size], [2000, 1000, bytes.length]);
    assert.ok(p.thumbnail);
    assert.deepEqual([p.thumbnail.width, p.thumbnail.height, p.thumbnail.mimetype], [800, 400, "image/jpeg"]);
    assert.equal(isBlurhashValid(String(p.info["xyz.amorgan.blurhash"])).result, true);
  });

  test("a small image needs no thumbnail; a transparent one gets a PNG thumbnail when forced", async () => {
    const small = await prepareAttachment(Attachment.fromBytes(await png(40, 30)), ctx);
    assert.equal(small.thumbnail, undefined);
    assert.equal(small.filename, "image.png", "a name is made up from the type");
    const forced = await prepareAttachment(Attachment.fromBytes(await png(40, 30, true), { thumbnail: true, blurhash: false }), ctx);
    assert.equal(forced.thumbnail?.mimetype, "image/png");
    assert.equal(forced.info["xyz.amorgan.blurhash"], undefined);
    const none = await prepareAttachment(Attachment.fromBytes(await png(1000, 1000), { thumbnail: false }), ctx);
    assert.equal(none.thumbnail, undefined);
  });

  test("EXIF orientation: w/h are the display size", async () => {
    const rotated = await sharp({ create: { width: 60, height: 20, channels: 3, background: "red" } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const p = await prepareAttachment(Attachment.fromBytes(rotated), ctx);
    assert.deepEqual([p.info.w, p.info.h], [20, 60]);
  });

  test("a corrupt image is a clear AttachmentError, or a plain file with onInvalid: 'file'", async () => {
    const good = await png(300, 300);
    const corrupt = Buffer.concat([good.subarray(0, 60), Buffer.alloc(200, 7)]);
    await assert.rejects(prepareAttachment(Attachment.fromBytes(corrupt, { filename: "broken.png" }), ctx), (e: unknown) => {
      assert.ok(e instanceof AttachmentError);
      assert.match(e.message, /^could not read image "broken\.png": /);
      return true;
    });
    // A truncated PNG: the header reads fine, only decoding the pixels finds the damage, whichever step does it.
    const truncated = good.subarray(0, good.length - 20);
    assert.equal((await sharp(truncated).metadata()).width, 300);
    for (const options of [{}, { thumbnail: false, blurhash: false }, { thumbnail: true, blurhash: false }, { thumbnail: false }] as const) {
      await assert.rejects(prepareAttachment(Attachment.fromBytes(truncated, options), ctx), /could not read image "image\.png"/, JSON.stringify(options));
    }
    const asFile = await prepareAttachment(Attachment.fromBytes(corrupt, { filename: "broken.png", onInvalid: "file" }), ctx);
    assert.equal(asFile.kind, "file");
    assert.equal(asFile.mimetype, "image/png");
    assert.deepEqual(Object.keys(asFile.info).sort(), ["mimetype", "size"]);
  });

  test("forced kind and given info are respected", async () => {
    const p = await prepareAttachment(Attachment.fromBytes(await png(10, 10), { kind: "file", info: { "com.example.tag": 1 } }), ctx);
    assert.equal(p.kind, "file");
    assert.equal(p.info["com.example.tag"], 1);
  });
});

describe("prepareAttachment: video without ffmpeg", () => {
  test("a video needing metadata is a clear MissingToolError; with everything given, no tool is needed", async () => {
    const saved = process.env.NIOBOT_FFPROBE;
    process.env.NIOBOT_FFPROBE = "/nonexistent/ffprobe";
    try {
      const webm = Buffer.from("1a45dfa3", "hex");
      await assert.rejects(prepareAttachment(Attachment.fromBytes(webm, { filename: "v.webm" }), ctx), (e: unknown) => {
        assert.ok(e instanceof MissingToolError);
        assert.equal(e.tool, "ffprobe");
        assert.match(e.message, /ffprobe was not found: it is needed for video metadata\. Install ffmpeg/);
        return true;
      });
      const given = await prepareAttachment(Attachment.fromBytes(webm, { filename: "v.webm", thumbnail: false, info: { w: 2, h: 2, duration: 10 } }), ctx);
      assert.deepEqual([given.kind, given.info.w, given.info.duration], ["video", 2, 10]);
      // onInvalid: "file" is for bad data, not a missing tool: that stays an error.
      await assert.rejects(prepareAttachment(Attachment.fromBytes(webm, { filename: "v.webm", onInvalid: "file" }), ctx), MissingToolError);
    } finally {
      if (saved === undefined) delete process.env.NIOBOT_FFPROBE;
      else process.env.NIOBOT_FFPROBE = saved;
    }
  });
});

describe("sources", () => {
  const fakeFetch = (body: Uint8Array, headers: Record<string, string> = {}, status = 200) =>
    async (): Promise<Response> => new Response(body, { status, headers });

  test("a URL: Content-Disposition names it, the server's type is only a hint", async () => {
    const bytes = await png(5, 5);
    const att = Attachment.fromUrl("https://files.example/dl?id=3", { fetch: fakeFetch(bytes, { "content-type": "application/octet-stream", "content-disposition": "attachment; filename=\"pic.png\"" }) });
    const p = await prepareAttachment(att, ctx);
    assert.deepEqual([p.filename, p.mimetype, p.kind], ["pic.png", "image/png", "image"]);
  });

  test("a URL over the cap is refused by Content-Length, or while streaming", async () => {
    const big = new Uint8Array(5000);
    await assert.rejects(prepareAttachment(Attachment.fromUrl("https://x.example/a.bin", { fetch: fakeFetch(big, { "content-length": "5000" }), maxBytes: 1000 }), ctx), AttachmentTooLargeError);
    const streaming = async (): Promise<Response> => new Response(Readable.toWeb(Readable.from([new Uint8Array(800), new Uint8Array(800)])) as ReadableStream<Uint8Array>);
    await assert.rejects(prepareAttachment(Attachment.fromUrl("https://x.example/b.bin", { fetch: streaming, maxBytes: 1000 }), ctx), (e: unknown) => {
      assert.ok(e instanceof AttachmentTooLargeError);
      assert.equal(e.limit, 1000);
      return true;
    });
    await assert.rejects(prepareAttachment(Attachment.fromUrl("https://x.example/404", { fetch: fakeFetch(new Uint8Array(), {}, 404) }), ctx), /HTTP 404/);
    assert.throws(() => Attachment.from("ftp://x.example/a"), AttachmentError);
  });

  test("streams are read up to the cap", async () => {
    assert.equal((await readCapped(Readable.from([Buffer.from("ab"), Buffer.from("cd")]), 4, "s")).length, 4);
    await assert.rejects(readCapped(Readable.from([Buffer.from("ab"), Buffer.from("cde")]), 4, "s"), AttachmentTooLargeError);
    const p = await prepareAttachment(Attachment.fromStream(Readable.from([Buffer.from("hello ")]), { filename: "a.txt" }), ctx);
    assert.deepEqual([p.kind, p.mimetype, p.info.size], ["file", "text/plain", 6]);
  });

  test("an mxc URI with everything known is referenced as is; otherwise it must be downloaded", async () => {
    const known = Attachment.fromMxc("mxc://example.org/pdf1", { mimetype: "application/pdf", filename: "a.pdf" });
    const ref = await prepareAttachment(known, ctx);
    assert.deepEqual(ref.reference, { url: "mxc://example.org/pdf1" });
    assert.equal(ref.bytes, undefined);
    const unknown = Attachment.fromMxc("mxc://example.org/x");
    await assert.rejects(prepareAttachment(unknown, ctx), /needs a bot to download/);
    // In an encrypted room a plain mxc has to be downloaded and re-uploaded encrypted.
    await assert.rejects(prepareAttachment(known, { ...ctx, encrypt: true }), /needs a bot to download/);
  });
});

describe("uploadPrepared", () => {
  test("checks both sizes before uploading; encrypts file and thumbnail with different keys", async () => {
    const uploads: Array<{ bytes: Uint8Array; type: string; name: string | undefined }> = [];
    const media = {
      checkSize: async (size: number, what: string) => { if (size > 50_000) throw new AttachmentTooLargeError(what, size, 50_000); },
      upload: async (bytes: Uint8Array, type: string, name?: string) => { uploads.push({ bytes, type, name }); return `mxc://x/${uploads.length}`; },
    } as unknown as MediaClient;
    const bytes = await sharp({ create: { width: 1200, height: 900, channels: 3, background: "#123456" } }).jpeg().toBuffer();
    const prepared = await prepareAttachment(Attachment.fromBytes(bytes, { filename: "p.jpg" }), ctx);
    const up = await uploadPrepared(media, prepared, { encrypt: true });
    assert.equal(uploads.length, 2);
    assert.ok(uploads.every((u) => u.type === "application/octet-stream" && u.name === undefined), "nothing about the file leaks to the server");
    assert.ok(up.file && up.info.thumbnail_file && !up.url && !up.info.thumbnail_url);
    assert.notEqual(up.file.key.k, up.info.thumbnail_file.key.k);
    assert.deepEqual(Buffer.from(decryptAttachment(uploads[1]?.bytes ?? new Uint8Array(), up.file)), bytes);
    assert.equal(up.info.thumbnail_info?.w, 800);

    uploads.length = 0;
    const huge = { ...prepared, bytes: new Uint8Array(60_000) };
    await assert.rejects(uploadPrepared(media, huge, { encrypt: false }), AttachmentTooLargeError);
    assert.equal(uploads.length, 0, "not even the thumbnail was uploaded");
  });
});
