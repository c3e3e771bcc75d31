/**
 * Video and audio metadata: `ffprobe`/`ffmpeg` (optional system tools) for
 * video size, duration and first-frame thumbnails; `music-metadata` (pure
 * JavaScript) for audio duration, with `ffprobe` as a fallback.
 *
 * The tools are found on `PATH`, or at `NIOBOT_FFPROBE` / `NIOBOT_FFMPEG`.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AttachmentError, MissingToolError, messageOf } from "./errors.js";

/** What is known about a video: display size and duration in milliseconds. */
export interface VideoProbe {
  width?: number;
  height?: number;
  durationMs?: number;
}

/** Paths of the ffmpeg tools. */
export function toolPath(tool: "ffprobe" | "ffmpeg"): string {
  return process.env[`NIOBOT_${tool.toUpperCase()}`] ?? tool;
}

function run(tool: "ffprobe" | "ffmpeg", args: string[], purpose: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(toolPath(tool), args, { encoding: "buffer", maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return reject(new MissingToolError(tool, purpose));
      const detail = stderr.toString("utf8").trim().split("\n").slice(-3).join("; ");
      reject(new Error(detail || error.message));
    });
  });
}

/** Runs `fn` on the bytes written to a private temporary file (MP4 needs seeking, so a pipe won't do). */
async function withTempFile<T>(bytes: Uint8Array, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "niobot-media-"));
  try {
    const path = join(dir, "input");
    await writeFile(path, bytes, { mode: 0o600 });
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface FfprobeOutput {
  streams?: Array<{
    codec_type?: string;
    width?: number;
    height?: number;
    duration?: string;
    tags?: Record<string, string>;
    side_data_list?: Array<{ rotation?: number }>;
    disposition?: { attached_pic?: number };
  }>;
  format?: { duration?: string };
}

function parseProbe(json: string): VideoProbe {
  const out = JSON.parse(json) as FfprobeOutput;
  const video = out.streams?.find((s) => s.codec_type === "video" && s.disposition?.attached_pic !== 1);
  const seconds = Number(out.format?.duration ?? video?.duration ?? NaN);
  const probe: VideoProbe = Number.isFinite(seconds) && seconds > 0 ? { durationMs: Math.round(seconds * 1000) } : {};
  if (video?.width && video.height) {
    // Phones record portrait video as landscape plus a rotation; clients show it rotated.
    const rotation = Number(video.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? video.tags?.rotate ?? 0);
    const sideways = Math.abs(rotation) % 180 === 90;
    probe.width = sideways ? video.height : video.width;
    probe.height = sideways ? video.width : video.height;
  }
  return probe;
}

/**
 * Reads a video's size and duration with `ffprobe`, and (when `frame` is
 * set) grabs its first frame as PNG with `ffmpeg`.
 *
 * @throws {@link MissingToolError} when ffprobe (or ffmpeg, for the frame) is not installed.
 * @throws {@link AttachmentError} `could not read video ...` when the tools reject the data.
 */
export async function probeVideo(bytes: Uint8Array, name: string, frame: boolean): Promise<VideoProbe & { frame?: Uint8Array }> {
  return withTempFile(bytes, async (path) => {
    let probe: VideoProbe;
    try {
      const json = await run("ffprobe", ["-v", "error", "-print_format", "json", "-show_streams", "-show_format", path], "video metadata");
      probe = parseProbe(json.toString("utf8"));
    } catch (error) {
      if (error instanceof MissingToolError) throw error;
      throw new AttachmentError(`could not read video ${JSON.stringify(name)}: ${messageOf(error)}`, { cause: error });
    }
    if (!frame || probe.width === undefined) return probe;
    try {
      const png = await run("ffmpeg", ["-v", "error", "-i", path, "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "pipe:1"], "video thumbnails");
      return png.length > 0 ? { ...probe, frame: new Uint8Array(png) } : probe;
    } catch (error) {
      if (error instanceof MissingToolError) throw error;
      throw new AttachmentError(`could not read a frame of video ${JSON.stringify(name)}: ${messageOf(error)}`, { cause: error });
    }
  });
}

/**
 * Reads an audio clip's duration in milliseconds: `music-metadata` first,
 * `ffprobe` when that finds none (and is installed).
 *
 * @throws {@link AttachmentError} `could not read audio ...` when neither can parse it.
 */
export async function probeAudio(bytes: Uint8Array, mimetype: string, name: string): Promise<{ durationMs?: number }> {
  let reason: unknown;
  try {
    const { parseBuffer } = await import("music-metadata"); // loaded on first use
    const meta = await parseBuffer(bytes, { mimeType: mimetype, size: bytes.length }, { duration: true, skipCovers: true });
    const seconds = meta.format.duration;
    if (seconds !== undefined && Number.isFinite(seconds) && seconds > 0) return { durationMs: Math.round(seconds * 1000) };
  } catch (error) {
    reason = error;
  }
  try {
    const probe = await withTempFile(bytes, async (path) =>
      parseProbe((await run("ffprobe", ["-v", "error", "-print_format", "json", "-show_format", path], "audio metadata")).toString("utf8")));
    if (probe.durationMs !== undefined) return { durationMs: probe.durationMs };
  } catch (error) {
    reason ??= error instanceof MissingToolError ? undefined : error;
  }
  // Parsed but of unknown length (some streams): send without a duration.
  if (reason === undefined) return {};
  throw new AttachmentError(`could not read audio ${JSON.stringify(name)}: ${messageOf(reason)}`, { cause: reason });
}
