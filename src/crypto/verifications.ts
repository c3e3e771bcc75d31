/**
 * The bot's verifications: picks up incoming requests (to-device ones after
 * each sync batch, in-room ones from the timeline), starts the bot's own, and
 * keeps the flows in progress (see `verification.ts` for one flow).
 *
 * @module
 */
import { DeviceId, EventId, OtherUserIdentity, OwnUserIdentity, RoomId, UserId, type VerificationRequest } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { ClientEvent } from "../api/events.js";
import { isVerificationEvent } from "./verification-events.js";
import { MAX_ACTIVE, SAS_ONLY, Verification, type VerificationHost } from "./verification.js";

/** Senders of verification messages among processed to-device events (requests arrive this way). */
export function verificationSenders(processed: readonly { rawEvent?: string }[]): Set<string> {
  const senders = new Set<string>();
  for (const event of processed) {
    if (typeof event.rawEvent !== "string") continue;
    try {
      const raw = JSON.parse(event.rawEvent) as { type?: unknown; sender?: unknown };
      if (typeof raw.type === "string" && raw.type.startsWith("m.key.verification.") && typeof raw.sender === "string") senders.add(raw.sender);
    } catch {
      // Not JSON: nothing to verify.
    }
  }
  return senders;
}

/** The verifications of one bot device. */
export class Verifications {
  readonly #active = new Map<string, Verification>();

  constructor(private readonly host: VerificationHost) {}

  /** Cancels nothing (the other side times out), but releases every flow's machine objects before the machine closes. */
  async close(): Promise<void> {
    const active = [...this.#active.values()];
    this.#active.clear();
    await Promise.all(active.map((v) => v.close()));
  }

  /** Verifications in flight. */
  get active(): number {
    return this.#active.size;
  }

  /**
   * Picks up requests that arrived by to-device message: called after a sync
   * batch with the senders of the verification messages in it.
   */
  adoptFrom(senders: Iterable<string>): void {
    for (const sender of senders) {
      let userId: UserId;
      try {
        userId = new UserId(sender);
      } catch {
        continue;
      }
      for (const request of this.host.machine.getVerificationRequests(userId)) this.#adopt(request);
    }
  }

  /**
   * Feeds an in-room verification event (decrypted) to the machine and picks
   * up a new request. Never throws: a malformed event is logged and ignored,
   * and the answers go out in the background, off the room's handler turn.
   */
  async receiveRoomEvent(roomId: string, event: ClientEvent): Promise<void> {
    // The bot's own echo: the machine knows what it sent.
    if (event.unsigned?.transaction_id !== undefined) return;
    const { event_id, type, sender, content, origin_server_ts } = event;
    try {
      await this.host.machine.receiveVerificationEvent(JSON.stringify({ event_id, type, sender, content, origin_server_ts }), new RoomId(roomId));
      if (type === "m.room.message") {
        const request = this.host.machine.getVerificationRequest(new UserId(sender), event_id);
        if (request) this.#adopt(request);
      } else {
        const flow = (content["m.relates_to"] as { event_id?: unknown } | undefined)?.event_id;
        if (typeof flow === "string") this.#active.get(flow)?.kick();
      }
    } catch (error) {
      this.host.log.debug({ roomId, eventId: event_id, error: (error as Error).message }, "ignored a malformed verification event");
      return;
    }
    this.host.track(this.host.pump.pump());
  }

  /** See `BotCrypto.requestVerification`. */
  async request(userId: string, deviceId?: string, roomId?: string): Promise<Verification> {
    const { machine, pump } = this.host;
    const user = new UserId(userId);
    await machine.updateTrackedUsers([new UserId(userId)]);
    await pump.pump();
    if (deviceId !== undefined) {
      const device = await machine.getDevice(user, new DeviceId(deviceId));
      if (!device) throw new Error(`${userId} has no device ${deviceId} the bot knows of`);
      const [request, out] = device.requestVerification(SAS_ONLY());
      device.free();
      const verification = this.#adopt(request, true)!;
      if (!(await pump.send(out))) throw new Error("could not send the verification request");
      return verification;
    }
    const identity = await machine.getIdentity(user);
    if (!identity) throw new Error(`${userId} has no cross-signing identity: verify one of their devices instead (give a deviceId)`);
    if (identity instanceof OwnUserIdentity) {
      const [request, out] = await identity.requestVerification(SAS_ONLY());
      identity.free();
      const verification = this.#adopt(request, true)!;
      if (!(await pump.send(out))) throw new Error("could not send the verification request");
      return verification;
    }
    const other = identity as OtherUserIdentity;
    try {
      if (!this.host.sendRoomEvent || !this.host.directRoom) throw new Error("in-room verification needs the bot (give a deviceId to verify by to-device message)");
      const room = roomId ?? (await this.host.directRoom(userId));
      const content = JSON.parse(other.verificationRequestContent(SAS_ONLY())) as Record<string, unknown>;
      const eventId = await this.host.sendRoomEvent(room, "m.room.message", content);
      return this.#adopt(other.requestVerification(new RoomId(room), new EventId(eventId), SAS_ONLY()), true)!;
    } finally {
      other.free();
    }
  }

  #adopt(request: VerificationRequest, ours = false): Verification | undefined {
    const known = this.#active.get(request.flowId);
    if (known) {
      request.free();
      known.kick();
      return known;
    }
    // Requests the bot sent are adopted when sent; finished ones and those another device answered are not ours to answer.
    if (!ours && (request.isDone() || request.isCancelled() || request.isPassive() || request.weStarted())) {
      request.free();
      return undefined;
    }
    // Flows whose other side went away time out without any event: drop them before counting.
    for (const stale of [...this.#active.values()].filter((v) => v.stale)) stale.expire();
    const flowId = request.flowId;
    if (!ours && this.#active.size >= MAX_ACTIVE) {
      this.host.log.warn({ userId: request.otherUserId.toString(), active: this.#active.size }, "too many verifications in flight; cancelled a new request");
      const out = request.cancel();
      // Freed at once: a machine object left alive would keep the crypto store open at stop.
      request.free();
      if (out) this.host.track(this.host.pump.send(out).then(() => undefined));
      return undefined;
    }
    const verification = new Verification(request, this.host, () => this.#active.delete(flowId));
    this.#active.set(flowId, verification);
    verification.kick();
    return verification;
  }
}

export { isVerificationEvent };
