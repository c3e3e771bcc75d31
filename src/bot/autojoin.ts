/** Which invites the bot accepts on its own. */

/**
 * `true`: every invite (default); `false`: none; or an allowlist of user ids
 * and server names (an invite is accepted if either matches).
 *
 * @example
 * new NioBot({ ..., autoJoin: { users: ["@admin:example.org"], servers: ["example.org"] } });
 */
export type AutoJoinPolicy = boolean | { users?: readonly string[]; servers?: readonly string[] };

/** The server part of a user id (everything after the first colon). */
export function serverOf(userId: string): string {
  const at = userId.indexOf(":");
  return at === -1 ? "" : userId.slice(at + 1);
}

/** Whether an invite from `inviter` is accepted under `policy`. */
export function autoJoinAllowed(policy: AutoJoinPolicy, inviter: string | undefined): boolean {
  if (typeof policy === "boolean") return policy;
  if (inviter === undefined) return false;
  return (policy.users ?? []).includes(inviter) || (policy.servers ?? []).includes(serverOf(inviter));
}
