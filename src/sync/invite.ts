/**
 * Finding the invite itself among an invited room's stripped state.
 *
 * `invite_state` is mostly what the inviting server chose to send (over federation, any server
 * can put any stripped event there, signed by nobody); the homeserver then appends the real
 * invite event. So the inviter is read only from a membership event for the bot's own user with
 * membership `invite`, and when such events disagree about who sent them, nobody is trusted.
 *
 * @module
 */
import type { StrippedStateEvent } from "../api/events.js";

/** What {@link findOwnInvite} found: the invite event, or why there is none to trust. */
export type OwnInvite =
  | { readonly invite: StrippedStateEvent; readonly problem?: undefined }
  | { readonly invite: undefined; readonly problem: string };

/** A user id's shape (`@local:server`), enough to refuse a sender that cannot be anyone. */
function looksLikeUserId(value: unknown): value is string {
  return typeof value === "string" && value.length <= 255 && value.startsWith("@") && value.indexOf(":") > 1;
}

/**
 * The bot's own invite in an invited room's stripped state: the `m.room.member` event whose
 * `state_key` is `userId`, with membership `invite` and a user id as `sender`. Malformed entries
 * are skipped; several invite events naming different senders mean a forgery, and none is
 * returned. The last one wins otherwise (homeservers append the real invite after the state).
 *
 * @example
 * const { invite, problem } = findOwnInvite(room.invite_state.events, "@bot:example.org");
 * const inviter = invite?.sender; // undefined: treat as "not allowed"
 */
export function findOwnInvite(events: readonly unknown[], userId: string): OwnInvite {
  let invite: StrippedStateEvent | undefined;
  let ownEvents = 0;
  let conflicting = false;
  for (const event of events) {
    if (typeof event !== "object" || event === null) continue;
    const e = event as Partial<StrippedStateEvent>;
    if (e.type !== "m.room.member" || e.state_key !== userId) continue;
    ownEvents++;
    const content = e.content as { membership?: unknown } | null | undefined;
    if (typeof content !== "object" || content === null || content.membership !== "invite" || !looksLikeUserId(e.sender)) continue;
    if (invite !== undefined && invite.sender !== e.sender) conflicting = true;
    invite = e as StrippedStateEvent;
  }
  if (conflicting) return { invite: undefined, problem: "invite_state holds invite events from different senders" };
  if (invite !== undefined) return { invite };
  return {
    invite: undefined,
    problem: ownEvents === 0 ? "invite_state holds no membership event for the bot" : "the bot's membership event in invite_state is not a valid invite",
  };
}
