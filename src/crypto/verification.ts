/**
 * Interactive verification with SAS (emoji or decimals), on the crypto
 * machine's `VerificationRequest` and `Sas`. People verify a bot from their
 * client ("Verify user"), to the bot's device (to-device) or in their DM with
 * it (in-room); the bot can start one too (`bot.crypto.requestVerification`).
 *
 * The bot answers a request (and accepts the other side's SAS start) only
 * when the application listens to `verificationRequest` or the user is listed
 * in `autoVerify`; otherwise it cancels at once, so the person is not left
 * waiting. Once both sides have exchanged keys, the emoji and decimals are
 * known and `verificationRequest` fires with a {@link Verification}: the
 * application compares them (with the person, out of band) and calls
 * `confirm()` or `cancel()`. After a confirmed SAS the machine marks the other
 * device and identity verified and, when the bot holds the user-signing key,
 * signs the other user's master key (the signature goes out with the
 * verification's last requests).
 *
 * @module
 */
import { Sas, VerificationMethod, VerificationRequestPhase, type OlmMachine, type VerificationRequest } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { Logger } from "../logging/logger.js";
import { VerificationCancelledError } from "./errors.js";

export { VerificationCancelledError };
import type { OutgoingRequest, RequestPump } from "./requests.js";

/** One emoji of a short authentication string. */
export interface SasEmoji {
  /** The emoji itself, e.g. `🐶`. */
  symbol: string;
  /** Its English name from the spec's table, e.g. `Dog`. */
  description: string;
}

/** The short authentication string both sides compare. */
export interface ShortAuthString {
  /** Seven emoji (when both sides support emoji). */
  emoji: SasEmoji[] | undefined;
  /** Three numbers of four digits. */
  decimals: [number, number, number];
}

/** Where a verification stands. */
export type VerificationState = "requested" | "ready" | "started" | "done" | "cancelled";

/** What the verification code needs from the crypto layer and the bot. */
export interface VerificationHost {
  machine: OlmMachine;
  pump: RequestPump;
  log: Logger;
  save(): Promise<void>;
  /** The DM room to verify a user in (resolved or created by the bot's DM layer). */
  directRoom?(userId: string): Promise<string>;
  /** Sends a room event through the bot's send path (encrypted in an encrypted room). */
  sendRoomEvent?(roomId: string, eventType: string, content: Record<string, unknown>): Promise<string>;
  /** Whether the application listens to `verificationRequest`. */
  listening(): boolean;
  /** The `verificationRequest` bot event. */
  present(verification: Verification): Promise<void>;
  /** Users whose verifications are confirmed without asking (`autoVerify`). */
  autoVerify: ReadonlySet<string>;
  /** Runs background work, routing its errors to the bot's error funnel. */
  track(work: Promise<void>): void;
}

/** @internal At most this many verifications in flight; more are cancelled (anyone can send requests). */
export const MAX_ACTIVE = 32;
/** @internal The methods the bot offers: SAS only (a bot cannot scan or show a QR code). */
export const SAS_ONLY = (): VerificationMethod[] => [VerificationMethod.SasV1];

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * One interactive verification, incoming or started by the bot. Given to
 * `verificationRequest` listeners once the short authentication string is
 * known, and returned by `bot.crypto.requestVerification`.
 *
 * @example
 * bot.on("verificationRequest", async (v) => {
 *   console.log(`${v.otherUserId} wants to verify:`, v.emoji?.map((e) => e.symbol).join(" "));
 *   if (await askOperator()) await v.confirm();
 *   else await v.cancel();
 * });
 */
export class Verification {
  #sas: Sas | undefined;
  readonly #ownUserId: string;
  #state: VerificationState = "requested";
  #sasString: ShortAuthString | undefined;
  #cancelled: VerificationCancelledError | undefined;
  #answered = false;
  #sasStarted = false;
  #sasAccepted = false;
  #presented = false;
  #confirmed = false;
  #finished = false;
  #chain: Promise<void> = Promise.resolve();
  #otherDeviceId: string | undefined;
  #freed = false;
  readonly #sasWaiters: Waiter<ShortAuthString>[] = [];
  readonly #doneWaiters: Waiter<void>[] = [];

  /** @internal */
  constructor(
    private readonly request: VerificationRequest,
    private readonly host: VerificationHost,
    private readonly forget: () => void,
  ) {
    this.flowId = request.flowId;
    this.otherUserId = request.otherUserId.toString();
    this.roomId = request.roomId?.toString();
    this.weStarted = request.weStarted();
    this.#ownUserId = request.ownUserId.toString();
    request.registerChangesCallback(async () => this.#schedule());
  }

  /** The flow id: the to-device transaction id, or the event id of the in-room request. */
  readonly flowId: string;
  /** The user on the other side (the bot's own account for a self-verification). */
  readonly otherUserId: string;
  /** The DM room of an in-room verification; undefined for a to-device one. */
  readonly roomId: string | undefined;
  /** Whether the bot sent the request. */
  readonly weStarted: boolean;

  /** The other device, once it has answered (or from the start for a to-device request). */
  get otherDeviceId(): string | undefined {
    if (!this.#freed) this.#otherDeviceId ??= this.request.otherDeviceId?.toString();
    return this.#otherDeviceId;
  }

  /** Where the verification stands. */
  get state(): VerificationState {
    return this.#state;
  }

  /** The seven emoji, once both sides exchanged keys (undefined before, or when the other side offers decimals only). */
  get emoji(): SasEmoji[] | undefined {
    return this.#sasString?.emoji;
  }

  /** The three decimals, once both sides exchanged keys. */
  get decimals(): [number, number, number] | undefined {
    return this.#sasString?.decimals;
  }

  /** Whether the bot verifies another device of its own account. */
  get isSelfVerification(): boolean {
    return this.otherUserId === this.#ownUserId;
  }

  /**
   * Resolves with the emoji and decimals once both sides exchanged keys.
   *
   * @throws {@link VerificationCancelledError} when the verification is cancelled first.
   */
  shortAuthString(signal?: AbortSignal): Promise<ShortAuthString> {
    if (this.#sasString) return Promise.resolve(this.#sasString);
    return this.#wait(this.#sasWaiters, signal);
  }

  /**
   * Resolves when both sides confirmed and the verification is done.
   *
   * @throws {@link VerificationCancelledError} when it is cancelled instead.
   */
  done(signal?: AbortSignal): Promise<void> {
    if (this.#state === "done") return Promise.resolve();
    return this.#wait(this.#doneWaiters, signal);
  }

  /**
   * Confirms that the short authentication string matches on both sides.
   * Only call this after comparing it with the person on the other side:
   * confirming marks their device (and identity) verified.
   */
  async confirm(): Promise<void> {
    if (this.#cancelled) throw this.#cancelled;
    if (this.#state === "done") return;
    const sas = this.#sas;
    if (!sas || !sas.canBePresented()) throw new Error("nothing to confirm yet: wait for the short authentication string (shortAuthString())");
    if (this.#confirmed) return;
    this.#confirmed = true;
    await this.#run(async () => {
      for (const request of await sas.confirm()) await this.#send(request);
      // Signatures of the other device or identity may wait in the machine's queue.
      await this.host.pump.pump();
      await this.host.save();
    });
  }

  /** Cancels the verification (`m.user`, or another spec cancel code). */
  async cancel(code = "m.user"): Promise<void> {
    await this.#run(async () => {
      if (this.#finished) return;
      const out = this.#sas ? this.#sas.cancelWithCode(code) : this.request.cancel();
      if (out) await this.#send(out);
    });
    this.#schedule();
  }

  #wait<T>(waiters: Waiter<T>[], signal: AbortSignal | undefined): Promise<T> {
    if (this.#cancelled) return Promise.reject(this.#cancelled);
    return new Promise<T>((resolve, reject) => {
      const waiter = { resolve, reject };
      waiters.push(waiter);
      signal?.addEventListener("abort", () => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** Serializes the work on this flow (machine callbacks and API calls). */
  #run(work: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(work);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /** @internal Re-reads the request after a change (the machine's callback, or an event fed to it). */
  #schedule(): void {
    if (this.#finished) return;
    // Outside the callback: the machine may be in the middle of processing what changed.
    setImmediate(() => this.host.track(this.#run(() => this.#update())));
  }

  /** @internal */
  kick(): void {
    this.#schedule();
  }

  async #send(request: OutgoingRequest): Promise<void> {
    if (!(await this.host.pump.send(request))) throw new Error(`could not send a verification message of flow ${this.flowId}`);
  }

  async #update(): Promise<void> {
    if (this.#finished || this.#freed) return;
    const request = this.request;
    const phase = request.phase();
    if (phase === VerificationRequestPhase.Requested && !request.weStarted() && !this.#answered) {
      this.#answered = true;
      if (this.host.autoVerify.has(this.otherUserId) || this.host.listening()) {
        const out = request.acceptWithMethods(SAS_ONLY());
        if (out) await this.#send(out);
        this.host.log.info({ userId: this.otherUserId, flowId: this.flowId, inRoom: this.roomId !== undefined }, "accepted a verification request");
      } else {
        this.host.log.info({ userId: this.otherUserId, flowId: this.flowId }, "declined a verification request: nothing listens to verificationRequest and the user is not in autoVerify");
        const out = request.cancel();
        if (out) await this.#send(out);
      }
    }
    if (phase === VerificationRequestPhase.Ready) this.#state = "ready";
    // The side that sent the request starts SAS once the other side is ready.
    if (phase === VerificationRequestPhase.Ready && request.weStarted() && !this.#sasStarted) {
      this.#sasStarted = true;
      const started = await request.startSas();
      if (started) {
        const [sas, out] = started;
        this.#adoptSas(sas, true);
        await this.#send(out);
      }
    }
    if (phase === VerificationRequestPhase.Transitioned && !this.#sas) {
      const verification = request.getVerification();
      if (verification instanceof Sas) this.#adoptSas(verification, false);
      else verification?.free();
    }
    const sas = this.#sas;
    if (sas && !sas.isCancelled()) {
      this.#state = "started";
      if (!this.#sasAccepted) {
        this.#sasAccepted = true;
        // Does nothing for a start the bot sent itself.
        const out = sas.accept();
        if (out) await this.#send(out);
      }
      if (sas.canBePresented() && !this.#presented) await this.#present(sas);
    }
    if (request.isDone() || sas?.isDone()) await this.#finish();
    else if (request.isCancelled() || sas?.isCancelled()) this.#cancel();
  }

  #adoptSas(sas: Sas, ours: boolean): void {
    this.#sas = sas;
    this.#sasAccepted = ours;
    sas.registerChangesCallback(async () => this.#schedule());
  }

  async #present(sas: Sas): Promise<void> {
    this.#presented = true;
    const decimals = sas.decimals();
    const emoji = sas.supportsEmoji() ? sas.emoji()?.map((e) => ({ symbol: e.symbol, description: e.description })) : undefined;
    if (!decimals || decimals.length < 3) return;
    this.#sasString = { emoji, decimals: [decimals[0]!, decimals[1]!, decimals[2]!] };
    for (const waiter of this.#sasWaiters.splice(0)) waiter.resolve(this.#sasString);
    this.host.log.info({ userId: this.otherUserId, deviceId: this.otherDeviceId, flowId: this.flowId }, "verification: the short authentication string is ready to compare");
    const auto = this.host.autoVerify.has(this.otherUserId);
    // The event runs outside this flow's queue, so a listener can await confirm() or done().
    this.host.track(this.host.present(this).then(async () => {
      if (auto && !this.#confirmed && !this.#cancelled) {
        this.host.log.warn({ userId: this.otherUserId, deviceId: this.otherDeviceId }, "verification confirmed without comparing (autoVerify): this trusts the transport");
        await this.confirm();
      }
    }));
  }

  async #finish(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    this.#state = "done";
    await this.host.pump.pump();
    await this.host.save();
    this.host.log.info({ userId: this.otherUserId, deviceId: this.otherDeviceId, flowId: this.flowId }, "verification done");
    for (const waiter of this.#doneWaiters.splice(0)) waiter.resolve();
    this.forget();
    this.#free();
  }

  /** Releases the machine's objects: they hold its store open, so a closing bot could not release it. */
  #free(): void {
    if (this.#freed) return;
    void this.otherDeviceId;
    this.#freed = true;
    this.#sas?.free();
    this.#sas = undefined;
    this.request.free();
  }

  /** @internal Whether the flow timed out without an event to say so (the other side went away). */
  get stale(): boolean {
    return !this.#finished && !this.#freed && this.request.timedOut();
  }

  /** @internal Ends a stale flow as timed out. */
  expire(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#state = "cancelled";
    this.#cancelled = new VerificationCancelledError("m.timeout", "the verification timed out", false);
    for (const waiter of [...this.#sasWaiters.splice(0), ...this.#doneWaiters.splice(0)]) waiter.reject(this.#cancelled);
    this.forget();
    // Work queued on this flow sees it finished and stops; free only after it.
    void this.#chain.then(() => this.#free());
  }

  /** @internal The bot is stopping: waits for the flow's work in progress and releases the machine's objects. */
  async close(): Promise<void> {
    this.#finished = true;
    await this.#chain;
    for (const waiter of [...this.#sasWaiters.splice(0), ...this.#doneWaiters.splice(0)]) waiter.reject(new Error("the bot stopped"));
    this.#free();
  }

  #cancel(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#state = "cancelled";
    const info = this.#sas?.cancelInfo() ?? this.request.cancelInfo;
    this.#cancelled = new VerificationCancelledError(info?.cancelCode() ?? "m.unknown", info?.reason() ?? "cancelled", info?.cancelledbyUs() ?? false);
    info?.free();
    this.host.log.info({ userId: this.otherUserId, flowId: this.flowId, code: this.#cancelled.code, byUs: this.#cancelled.byUs }, "verification cancelled");
    for (const waiter of [...this.#sasWaiters.splice(0), ...this.#doneWaiters.splice(0)]) waiter.reject(this.#cancelled);
    this.forget();
    this.#free();
  }
}
