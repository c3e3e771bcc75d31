/**
 * Attachments against a real Synapse: the bot uploads and sends; a second
 * account (the scripted human) reads the event, downloads every file and
 * thumbnail with its own client, and checks bytes and `info`. Encrypted
 * attachments are decrypted here with node:crypto directly, not with niobot's code.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createDecipheriv, createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { isBlurhashValid } from "blurhash";
import sharp from "sharp";
import { MatrixApi } from "../../src/api/client.js";
import type { ClientEvent } from "../../src/api/events.js";
import { NioBot } from "../../src/bot/bot.js";
import {
  Attachment,
  AttachmentDecryptionError,
  MediaClient,
  AttachmentError,
  AttachmentTooLargeError,
  attachmentContent,
  type AttachmentHost,
  type EncryptedFile,
} from "../../src/attachments/index.js";
import { EncryptionRequiredError } from "../../src/crypto/errors.js";
import { startDevHomeserver, type DevHomeserver } from "../../src/devserver/index.js";
import { silentLogger } from "../../src/logging/logger.js";
import { faultyFetch } from "../helpers/faults.js";
import { countingFetch, newBot, newTestUser, type TestUser } from "../helpers/matrix.js";

const dir = mkdtempSync(join(tmpdir(), "niobot-attachments-"));
after(() => rmSync(dir, { recursive: true, force: true }));

type Info = Record<string, unknown> & { thumbnail_info?: { w: number; h: number; mimetype: string; size: number } };
const infoOf = (e: ClientEvent): Info => e.content.info as Info;

/** The human's own download of an mxc URI (authenticated media). */
async function fetchMedia(user: TestUser, mxc: unknown): Promise<{ bytes: Buffer; type: string | null }> {
  assert.equal(typeof mxc, "string");
  const [server = "", id = ""] = (mxc as string).slice("mxc://".length).split("/");
  const raw = await user.api.media.download(server, id);
  return { bytes: Buffer.from(raw.body), type: raw.headers.get("content-type") };
}

/** Independent decryption, straight from the spec: check SHA-256 of the ciphertext, then AES-256-CTR. */
async function decryptIndependently(user: TestUser, file: EncryptedFile): Promise<Buffer> {
  const { bytes } = await fetchMedia(user, file.url);
  assert.equal(createHash("sha256").update(bytes).digest("base64").replace(/=+$/, ""), file.hashes.sha256, "ciphertext hash");
  const decipher = createDecipheriv("aes-256-ctr", Buffer.from(file.key.k, "base64url"), Buffer.from(file.iv, "base64"));
  return Buffer.concat([decipher.update(bytes), decipher.final()]);
}

function assertEncryptedFileShape(file: unknown): asserts file is EncryptedFile {
  const f = file as EncryptedFile;
  assert.match(f.url, /^mxc:\/\//);
  assert.equal(f.v, "v2");
  assert.deepEqual({ ...f.key, k: "" }, { alg: "A256CTR", ext: true, k: "", key_ops: ["encrypt", "decrypt"], kty: "oct" });
  assert.equal(Buffer.from(f.key.k, "base64url").length, 32);
  assert.doesNotMatch(f.iv + f.hashes.sha256, /=/, "unpadded base64");
  assert.deepEqual([...Buffer.from(f.iv, "base64").subarray(8)], [0, 0, 0, 0, 0, 0, 0, 0]);
}

function ffmpeg(...args: string[]): void {
  execFileSync("ffmpeg", ["-v", "error", "-y", ...args], { stdio: ["ignore", "ignore", "pipe"] });
}

describe("attachments", () => {
  let human: TestUser;
  let bot: NioBot;
  let roomId: string;
  const counter = countingFetch();
  const uploads = (): number => counter.counts.get("POST /_matrix/media/v3/upload") ?? 0;

  /** Sends with the bot and returns the event as the human received it. */
  async function sent(send: Promise<string>): Promise<ClientEvent> {
    const id = await send;
    return human.waitForEvent((e) => e.event_id === id);
  }

  before(async () => {
    human = await newTestUser("viewer");
    const made = await newBot({ fetch: counter.fetch });
    bot = made.bot;
    await bot.start({ password: made.account.password });
    const joined = bot.waitForEvent("join", undefined, 20_000);
    roomId = await human.createRoom([bot.userId]);
    await joined;
  });
  after(() => bot.stop());

  test("a big JPEG with a caption: w/h/size/mimetype, an 800x600 thumbnail and a blurhash", async () => {
    const photo = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: "#2a6f97" } })
      .composite([{ input: await sharp({ create: { width: 400, height: 300, channels: 3, background: "#f4a261" } }).png().toBuffer(), top: 100, left: 200 }])
      .jpeg().toBuffer();
    const e = await sent(bot.sendAttachment(roomId, Attachment.fromBytes(photo, { filename: "photo.jpg" }), { caption: "a **sunny** day" }));
    assert.equal(e.content.msgtype, "m.image");
    assert.equal(e.content.filename, "photo.jpg");
    assert.equal(e.content.body, "a **sunny** day");
    assert.equal(e.content.formatted_body, "a <strong>sunny</strong> day");
    const info = infoOf(e);
    assert.deepEqual([info.w, info.h, info.size, info.mimetype], [1600, 1200, photo.length, "image/jpeg"]);
    assert.equal(isBlurhashValid(String(info["xyz.amorgan.blurhash"])).result, true);

    const main = await fetchMedia(human, e.content.url);
    assert.deepEqual(main.bytes, photo);
    assert.equal(main.type, "image/jpeg");
    const thumb = await fetchMedia(human, info.thumbnail_url);
    const meta = await sharp(thumb.bytes).metadata();
    assert.deepEqual(info.thumbnail_info, { w: 800, h: 600, mimetype: "image/jpeg", size: thumb.bytes.length });
    assert.deepEqual([meta.width, meta.height, meta.format], [800, 600, "jpeg"]);
  });

  test("a small PNG from a path: no thumbnail, body is the file name", async () => {
    const path = join(dir, "dot.png");
    const png = await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer();
    writeFileSync(path, png);
    const e = await sent(bot.sendAttachment(roomId, Attachment.fromPath(path)));
    assert.deepEqual([e.content.msgtype, e.content.body, e.content.filename], ["m.image", "dot.png", "dot.png"]);
    const info = infoOf(e);
    assert.deepEqual([info.w, info.h, info.mimetype, info.size], [64, 48, "image/png", png.length]);
    assert.equal(info.thumbnail_url, undefined);
    assert.deepEqual((await fetchMedia(human, e.content.url)).bytes, png);
  });

  test("a video: w/h/duration from ffprobe, first-frame thumbnail, blurhash", async () => {
    const path = join(dir, "clip.mp4");
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=1.5:size=320x240:rate=10", "-pix_fmt", "yuv420p", "-movflags", "+faststart", path);
    const e = await sent(bot.sendAttachment(roomId, Attachment.fromPath(path)));
    assert.equal(e.content.msgtype, "m.video");
    const info = infoOf(e);
    assert.deepEqual([info.w, info.h, info.mimetype], [320, 240, "video/mp4"]);
    assert.ok(Math.abs(Number(info.duration) - 1500) <= 100, `duration ${String(info.duration)}`);
    assert.equal(isBlurhashValid(String(info["xyz.amorgan.blurhash"])).result, true);
    const thumb = await fetchMedia(human, info.thumbnail_url);
    const meta = await sharp(thumb.bytes).metadata();
    assert.deepEqual(info.thumbnail_info, { w: 320, h: 240, mimetype: "image/jpeg", size: thumb.bytes.length });
    assert.deepEqual([meta.width, meta.height], [320, 240]);
  });

  test("an audio clip: duration", async () => {
    const path = join(dir, "tone.mp3");
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libmp3lame", "-b:a", "32k", path);
    const e = await sent(bot.sendAttachment(roomId, Attachment.fromPath(path)));
    assert.equal(e.content.msgtype, "m.audio");
    const info = infoOf(e);
    assert.equal(info.mimetype, "audio/mpeg");
    assert.ok(Math.abs(Number(info.duration) - 2000) <= 150, `duration ${String(info.duration)}`);
  });

  test("a plain file through sendMessage({ file, caption }), and bot.media.download", async () => {
    const csv = Buffer.from("name,count\ncats,3\n");
    const e = await sent(bot.sendMessage(roomId, { file: Attachment.fromBytes(csv, { filename: "counts.csv" }), caption: "the counts" }));
    assert.deepEqual([e.content.msgtype, e.content.filename, e.content.body], ["m.file", "counts.csv", "the counts"]);
    assert.deepEqual(infoOf(e), { mimetype: "text/csv", size: csv.length });
    const got = await bot.media.download(String(e.content.url));
    assert.deepEqual(Buffer.from(got.bytes), csv);
    assert.equal(got.filename, "counts.csv");
    assert.match(got.contentType, /^text\/csv/);
  });

  test("from a URL (a local web server), and from an mxc URI: referenced as is or downloaded", async () => {
    const png = await sharp({ create: { width: 30, height: 20, channels: 3, background: "#00ff00" } }).png().toBuffer();
    const server: Server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": png.length });
      res.end(png);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files/green.png`;
      const e = await sent(bot.sendAttachment(roomId, Attachment.fromUrl(url)));
      assert.deepEqual([e.content.msgtype, e.content.filename, infoOf(e).w, infoOf(e).mimetype], ["m.image", "green.png", 30, "image/png"]);
      await assert.rejects(bot.sendAttachment(roomId, Attachment.fromUrl(url, { maxBytes: 10 })), AttachmentTooLargeError);

      const mxc = String(e.content.url);
      counter.reset();
      const asIs = await sent(bot.sendAttachment(roomId, Attachment.fromMxc(mxc, { mimetype: "image/png", filename: "again.png", info: { w: 30, h: 20 }, blurhash: false })));
      assert.equal(asIs.content.url, mxc, "the same file, not a copy");
      assert.deepEqual([infoOf(asIs).w, infoOf(asIs).h], [30, 20]);
      assert.equal(uploads(), 0);
      assert.equal(counter.counts.get(`GET /_matrix/client/v1/media/download/localhost/${mxc.split("/").pop() ?? ""}`), undefined);

      const probed = await sent(bot.sendAttachment(roomId, Attachment.fromMxc(mxc)));
      assert.deepEqual([probed.content.msgtype, infoOf(probed).w, infoOf(probed).h, probed.content.filename], ["m.image", 30, 20, "green.png"]);
    } finally {
      server.close();
    }
  });

  test("encrypted attachment: the file object decrypts with independent code", async () => {
    const photo = await sharp({ create: { width: 1000, height: 1000, channels: 3, background: "#6a4c93" } }).jpeg().toBuffer();
    // Forced on in a plain room, so the human can read the event without Megolm.
    const e = await sent(bot.sendAttachment(roomId, Attachment.fromBytes(photo, { filename: "secret.jpg" }), { encrypt: true }));
    assert.equal(e.content.url, undefined);
    assertEncryptedFileShape(e.content.file);
    const info = infoOf(e);
    assert.equal(info.thumbnail_url, undefined);
    assertEncryptedFileShape(info.thumbnail_file);
    assert.notEqual(e.content.file.key.k, info.thumbnail_file.key.k);
    assert.deepEqual(await decryptIndependently(human, e.content.file), photo);
    const thumb = await decryptIndependently(human, info.thumbnail_file);
    assert.deepEqual(info.thumbnail_info, { w: 600, h: 600, mimetype: "image/jpeg", size: thumb.length });
    assert.equal((await sharp(thumb).metadata()).width, 600);

    // bot.media.download verifies and decrypts; a wrong hash is refused.
    assert.deepEqual(Buffer.from((await bot.media.download(e.content.file)).bytes), photo);
    const tampered = { ...e.content.file, hashes: { sha256: info.thumbnail_file.hashes.sha256 } };
    await assert.rejects(bot.media.download(tampered), AttachmentDecryptionError);
  });

  test("an encrypted room: files are encrypted automatically; without E2EE the bot refuses before uploading", async () => {
    const joined = bot.waitForEvent("join", undefined, 20_000);
    const encryptedRoom = await human.createRoom([bot.userId], {
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await joined;
    counter.reset();
    await assert.rejects(bot.sendAttachment(encryptedRoom, Attachment.fromBytes(Buffer.from("hi"), { filename: "a.txt" })), EncryptionRequiredError);
    assert.equal(uploads(), 0);

    // With a host that can encrypt events, the room's state alone switches file encryption on.
    const host: AttachmentHost = { api: bot.api, media: bot.media, userId: bot.userId, options: {}, encryptionEnabled: true, roomEncryption: (id) => bot.roomEncryption(id), sendEvent: () => Promise.reject(new Error("unused")) };
    const content = await attachmentContent(host, encryptedRoom, Attachment.fromBytes(Buffer.from("secret notes"), { filename: "n.txt" }));
    assert.equal(content.url, undefined);
    assertEncryptedFileShape(content.file);
    assert.deepEqual(await decryptIndependently(human, content.file), Buffer.from("secret notes"));
  });

  test("ctx.respond({ file }) answers a command with an attachment, as a reply", async () => {
    const png = await sharp({ create: { width: 10, height: 10, channels: 3, background: "black" } }).png().toBuffer();
    bot.command("pic", (ctx) => ctx.respond({ file: Attachment.fromBytes(png, { filename: "pic.png" }), caption: "here" }));
    const id = await human.send(roomId, "!pic");
    const e = await human.waitForEvent((ev) => ev.sender === bot.userId && (ev.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]?.event_id === id);
    assert.deepEqual([e.content.msgtype, e.content.body, e.content.filename], ["m.image", "here", "pic.png"]);
    assert.deepEqual((e.content["m.mentions"] as { user_ids?: string[] }).user_ids, [human.userId]);
  });

  test("a corrupt image is a clear error, nothing is uploaded, and the bot carries on", async () => {
    const good = await sharp({ create: { width: 200, height: 200, channels: 3, background: "red" } }).png().toBuffer();
    const corrupt = Buffer.concat([good.subarray(0, 64), Buffer.alloc(300, 0x5a)]);
    counter.reset();
    await assert.rejects(bot.sendAttachment(roomId, Attachment.fromBytes(corrupt, { filename: "broken.png" })), (error: unknown) => {
      assert.ok(error instanceof AttachmentError);
      assert.match(error.message, /could not read image "broken\.png"/);
      return true;
    });
    assert.equal(uploads(), 0);
    const asFile = await sent(bot.sendAttachment(roomId, Attachment.fromBytes(corrupt, { filename: "broken.png", onInvalid: "file" })));
    assert.deepEqual([asFile.content.msgtype, infoOf(asFile).mimetype], ["m.file", "image/png"]);
    const text = await sent(bot.sendMessage(roomId, "still here"));
    assert.equal(text.content.body, "still here");
  });
});

describe("attachments on a server with a 100K upload limit and no authenticated media", () => {
  let hs: DevHomeserver;
  let bot: NioBot;
  let roomId: string;
  const counter = countingFetch();

  before(async () => {
    hs = await startDevHomeserver({ maxUploadSize: "100K", authenticatedMedia: false });
    const account = await hs.registerUser("limited-bot", "pw-limited-bot");
    bot = new NioBot({ homeserver: hs.baseUrl, userId: account.userId, handleSignals: false, logger: silentLogger, fetch: counter.fetch });
    await bot.start({ password: "pw-limited-bot" });
    ({ room_id: roomId } = await bot.api.rooms.create({ preset: "private_chat" }));
  });
  after(async () => {
    await bot?.stop();
    await hs?.stop();
  });

  test("an over-limit file is refused before any upload request", async () => {
    counter.reset();
    const big = new Uint8Array(150 * 1024).fill(7);
    await assert.rejects(bot.sendAttachment(roomId, Attachment.fromBytes(big, { filename: "big.bin" })), (error: unknown) => {
      assert.ok(error instanceof AttachmentTooLargeError);
      assert.equal(error.limit, 100 * 1024);
      assert.equal(error.size, big.length);
      assert.match(error.message, /big\.bin is too large/);
      return true;
    });
    const path = join(dir, "big-on-disk.bin");
    writeFileSync(path, big);
    await assert.rejects(bot.sendAttachment(roomId, Attachment.fromPath(path)), AttachmentTooLargeError);
    assert.equal(counter.counts.get("POST /_matrix/media/v3/upload"), undefined, "no upload was attempted");
    assert.equal(counter.counts.get("GET /_matrix/client/v1/media/config"), 1, "the limit is asked once and cached");

    const small = new Uint8Array(50 * 1024).fill(1);
    const id = await bot.sendAttachment(roomId, Attachment.fromBytes(small, { filename: "small.bin" }));
    assert.match(id, /^\$/);
    assert.equal(counter.counts.get("POST /_matrix/media/v3/upload"), 1);
  });

  test("downloads fall back to the legacy endpoint when authenticated media is unrecognized", async () => {
    const mxc = await bot.media.upload(Buffer.from("old server"), "text/plain", "old.txt");
    // What a server from before Matrix 1.11 answers for /_matrix/client/v1/media/download.
    const unrecognized = { kind: "status" as const, status: 404, body: { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" } };
    const { fetch: oldServer, log } = faultyFetch([{ path: /^\/_matrix\/client\/v1\/media\/download\//, times: 99, fault: unrecognized }], counter.fetch);
    const media = new MediaClient(new MatrixApi({ baseUrl: hs.baseUrl, fetch: oldServer }));
    const first = await media.download(mxc);
    assert.deepEqual(Buffer.from(first.bytes).toString(), "old server");
    assert.equal(first.filename, "old.txt");
    await media.download(mxc);
    assert.deepEqual(log.map((l) => l.path.split("/").slice(0, 5).join("/")), [
      "/_matrix/client/v1/media", "/_matrix/media/v3/download", "/_matrix/media/v3/download",
    ], "after one M_UNRECOGNIZED the legacy endpoint is used directly");
  });
});
