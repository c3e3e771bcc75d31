import assert from "node:assert/strict";
import { describe, test } from "node:test";
import sharp from "sharp";
import { detectMimeType, extensionForMime, kindForMime, mimeFromFilename } from "../../src/attachments/mime.js";
import { filenameFromDisposition, parseMxc } from "../../src/attachments/media.js";
import { AttachmentError } from "../../src/attachments/errors.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function wavHeader(): Uint8Array {
  const b = Buffer.alloc(44);
  b.write("RIFF", 0);
  b.writeUInt32LE(36, 4);
  b.write("WAVEfmt ", 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(8000, 28);
  b.writeUInt16LE(1, 32);
  b.writeUInt16LE(8, 34);
  b.write("data", 36);
  return b;
}

describe("detectMimeType", () => {
  test("the bytes win over the extension", async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "red" } }).png().toBuffer();
    const jpeg = await sharp({ create: { width: 4, height: 4, channels: 3, background: "red" } }).jpeg().toBuffer();
    const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: "red" } }).gif().toBuffer();
    const webp = await sharp({ create: { width: 4, height: 4, channels: 3, background: "red" } }).webp().toBuffer();
    assert.equal(await detectMimeType(png, "photo.jpg"), "image/png");
    assert.equal(await detectMimeType(jpeg, "image.png"), "image/jpeg");
    assert.equal(await detectMimeType(gif), "image/gif");
    assert.equal(await detectMimeType(webp, "x.txt"), "image/webp");
  });

  test("documents, audio and video by signature", async () => {
    assert.equal(await detectMimeType(text("%PDF-1.7\n%\u00e2\u00e3\n1 0 obj"), "report.bin"), "application/pdf");
    assert.equal(await detectMimeType(wavHeader()), "audio/wav");
    assert.equal(await detectMimeType(Buffer.from("1a45dfa3", "hex"), "clip.webm"), "video/webm");
  });

  test("zip-based office files keep their specific type from the name", async () => {
    const zip = Buffer.from("504b030414000000000000000000000000000000", "hex");
    assert.equal(await detectMimeType(zip, "a.docx"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    assert.equal(await detectMimeType(zip, "a.zip"), "application/zip");
    assert.equal(await detectMimeType(zip), "application/zip");
  });

  test("text formats fall back to the extension, then to a UTF-8 check", async () => {
    assert.equal(await detectMimeType(text("a,b\n1,2\n"), "data.csv"), "text/csv");
    assert.equal(await detectMimeType(text("{\"a\":1}"), "x.json"), "application/json");
    assert.equal(await detectMimeType(text("just some words, héhé\n")), "text/plain");
    assert.equal(await detectMimeType(text("<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>")), "image/svg+xml");
    assert.equal(await detectMimeType(text("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>")), "image/svg+xml");
  });

  test("unknown binary is application/octet-stream; a server's Content-Type is a hint after the name", async () => {
    const junk = Uint8Array.from([0, 1, 2, 3, 250, 251, 252, 0, 7]);
    assert.equal(await detectMimeType(junk), "application/octet-stream");
    assert.equal(await detectMimeType(junk, undefined, "application/x-thing; charset=binary"), "application/x-thing");
    assert.equal(await detectMimeType(junk, "a.pdf", "application/x-thing"), "application/pdf");
    assert.equal(await detectMimeType(new Uint8Array()), "application/octet-stream");
  });
});

describe("kinds and names", () => {
  test("kindForMime sends only displayable images as m.image", () => {
    assert.equal(kindForMime("image/png"), "image");
    assert.equal(kindForMime("image/jpeg"), "image");
    assert.equal(kindForMime("image/svg+xml"), "image");
    assert.equal(kindForMime("image/tiff"), "file");
    assert.equal(kindForMime("image/heic"), "file");
    assert.equal(kindForMime("video/mp4"), "video");
    assert.equal(kindForMime("audio/ogg; codecs=opus"), "audio");
    assert.equal(kindForMime("application/pdf"), "file");
  });

  test("extension helpers", () => {
    assert.equal(mimeFromFilename("A.JPG"), "image/jpeg");
    assert.equal(mimeFromFilename("noext"), undefined);
    assert.equal(extensionForMime("image/jpeg"), "jpg");
    assert.equal(extensionForMime("audio/mpeg"), "mp3");
    assert.equal(extensionForMime("application/x-unknown"), undefined);
  });

  test("parseMxc validates server name and media id", () => {
    assert.deepEqual(parseMxc("mxc://example.org/abc_DEF-123"), { serverName: "example.org", mediaId: "abc_DEF-123" });
    assert.deepEqual(parseMxc("mxc://localhost:8448/x"), { serverName: "localhost:8448", mediaId: "x" });
    for (const bad of ["https://example.org/abc", "mxc://example.org/../etc", "mxc://example.org/", "mxc:///abc", "mxc://ex ample/abc"]) {
      assert.throws(() => parseMxc(bad), AttachmentError, bad);
    }
  });

  test("filenameFromDisposition reads plain, quoted and RFC 5987 names", () => {
    assert.equal(filenameFromDisposition("inline; filename=\"cat.png\""), "cat.png");
    assert.equal(filenameFromDisposition("attachment; filename=report.pdf"), "report.pdf");
    assert.equal(filenameFromDisposition("attachment; filename*=utf-8''na%C3%AFve%20file.txt"), "naïve file.txt");
    assert.equal(filenameFromDisposition("inline; filename=\"a \\\"quoted\\\" name\""), "a \"quoted\" name");
    assert.equal(filenameFromDisposition("inline"), undefined);
    assert.equal(filenameFromDisposition(null), undefined);
  });
});
