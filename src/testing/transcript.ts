/**
 * What a test person saw in a room, and waiting for something to appear in it:
 * the failure message of every `expect…` prints the room's transcript.
 */
import type { ClientEvent } from "../api/events.js";

/** One timeline event as a test person received it (decrypted when it could be). */
export interface SeenEvent {
  /** The event, decrypted in encrypted rooms. */
  event: ClientEvent;
  /** Set when the event stayed encrypted (no room key): why. */
  undecryptable?: string;
}

/** How one event reads in a transcript line. */
export function describeEvent(seen: SeenEvent): string {
  const e = seen.event;
  const c = e.content as Record<string, unknown>;
  const rel = c["m.relates_to"] as Record<string, unknown> | undefined;
  const relType = typeof rel?.rel_type === "string" ? rel.rel_type : undefined;
  const inReply = (rel?.["m.in_reply_to"] as { event_id?: unknown } | undefined)?.event_id;
  let text: string;
  if (seen.undecryptable) text = `[undecryptable: ${seen.undecryptable}]`;
  else if (e.type === "m.room.message") {
    const msgtype = typeof c.msgtype === "string" ? c.msgtype : "?";
    const body = typeof c.body === "string" ? c.body : JSON.stringify(c.body);
    text = `${msgtype} ${JSON.stringify(body.length > 300 ? `${body.slice(0, 300)}…` : body)}`;
    if (relType === "m.replace") text = `edit of ${String(rel?.event_id)}: ${text}`;
    else if (relType === "m.thread") text = `in thread ${String(rel?.event_id)}: ${text}`;
    if (typeof inReply === "string" && relType !== "m.thread") text = `reply to ${inReply}: ${text}`;
  } else if (e.type === "m.reaction") text = `reaction ${JSON.stringify(rel?.key)} to ${String(rel?.event_id)}`;
  else if (e.type === "m.room.member") text = `membership ${String(c.membership)} of ${String(e.state_key)}`;
  else text = `${e.type}${e.state_key !== undefined ? ` [${e.state_key}]` : ""}`;
  return `${e.sender} ${e.event_id}: ${text}`;
}

/** The transcript of a room, one line per event, oldest first. */
export function formatTranscript(roomId: string, events: readonly SeenEvent[]): string {
  if (events.length === 0) return `room ${roomId}: (nothing received)`;
  return [`room ${roomId}:`, ...events.map((s) => `  ${describeEvent(s)}`)].join("\n");
}

/** Whether a text matches a string (substring) or a RegExp. */
export function textMatches(text: string, match: string | RegExp): boolean {
  if (typeof match === "string") return text.includes(match);
  match.lastIndex = 0;
  return match.test(text);
}
