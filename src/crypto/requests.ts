/**
 * Sending the crypto machine's outgoing requests. The machine decides what
 * must go to the server (key uploads, key queries, one-time key claims,
 * to-device messages, signatures); this file maps each request type to its
 * endpoint and hands the response back with `markRequestAsSent`.
 *
 * @module
 */
import {
  KeysBackupRequest,
  KeysClaimRequest,
  KeysQueryRequest,
  KeysUploadRequest,
  RequestType,
  RoomMessageRequest,
  SignatureUploadRequest,
  ToDeviceRequest,
  type OlmMachine,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type { MatrixApi } from "../api/client.js";
import { endpoints } from "../api/endpoints.js";
import type { Logger } from "../logging/logger.js";
import { KeyedMutex } from "../util/async.js";

/** A request `outgoingRequests()` or `getMissingSessions()`/`shareRoomKey()` returned. */
export type OutgoingRequest =
  | KeysUploadRequest
  | KeysQueryRequest
  | KeysClaimRequest
  | ToDeviceRequest
  | SignatureUploadRequest
  | RoomMessageRequest
  | KeysBackupRequest;

type Json = Record<string, unknown>;

function parse(body: string): Json {
  return JSON.parse(body) as Json;
}

/**
 * Sends a room event the way the bot sends every room event (encrypted in an
 * encrypted room, refused when in doubt); returns its event id.
 */
export type RoomEventSender = (roomId: string, eventType: string, content: Record<string, unknown>) => Promise<string>;

/**
 * Sends one request to its endpoint and returns the server's response. A
 * room message (in-room verification) goes through `sendRoomEvent` when given,
 * so it is encrypted in an encrypted room like everything else the bot sends.
 */
export async function sendRequest(api: MatrixApi, request: OutgoingRequest, sendRoomEvent?: RoomEventSender): Promise<unknown> {
  if (request instanceof KeysUploadRequest) return api.call(endpoints.keysUpload, { body: parse(request.body) });
  if (request instanceof KeysQueryRequest) return api.call(endpoints.keysQuery, { body: parse(request.body) });
  if (request instanceof KeysClaimRequest) return api.call(endpoints.keysClaim, { body: parse(request.body) });
  if (request instanceof SignatureUploadRequest) return api.call(endpoints.keysSignaturesUpload, { body: parse(request.body) });
  if (request instanceof ToDeviceRequest)
    return api.call(endpoints.sendToDevice, {
      path: { eventType: request.event_type, txnId: request.txn_id },
      body: parse(request.body) as { messages: Record<string, Record<string, unknown>> },
    });
  if (request instanceof RoomMessageRequest && sendRoomEvent) return { event_id: await sendRoomEvent(request.room_id, request.event_type, parse(request.body)) };
  if (request instanceof RoomMessageRequest)
    return api.call(endpoints.sendEvent, {
      path: { roomId: request.room_id, eventType: request.event_type, txnId: request.txn_id },
      body: parse(request.body),
    });
  // Key backup is never enabled by niobot, so the machine never asks for it.
  throw new Error(`unsupported crypto request type ${String((request as { type: unknown }).type)}`);
}

/**
 * Sends the machine's outgoing requests, one pump at a time: a pump run
 * while another is in progress waits for it and then asks the machine again,
 * so whoever called `pump()` knows every request that existed at call time
 * has been sent when it resolves.
 */
export class RequestPump {
  readonly #lock = new KeyedMutex();
  #failed = false;
  #uploads = 0;
  #uploadedKeyCounts: Record<string, number> | undefined;
  readonly #inFlight = new Set<string>();

  constructor(
    private readonly machine: OlmMachine,
    private readonly api: MatrixApi,
    private readonly log: Logger,
    private readonly sendRoomEvent?: RoomEventSender,
  ) {}

  /**
   * Sends every pending outgoing request. Failures are logged; the machine
   * returns them again next time. With `keyQueries: false`, `/keys/query`
   * requests are left unsent: the machine keeps their users outdated and
   * asks again on a later pump.
   */
  async pump(options: { keyQueries?: boolean } = {}): Promise<void> {
    const rooms: RoomMessageRequest[] = [];
    await this.#lock.run("pump", async () => {
      const requests = (await this.machine.outgoingRequests()) as OutgoingRequest[];
      let failed = false;
      for (const request of requests) {
        if (options.keyQueries === false && request instanceof KeysQueryRequest) continue;
        if (request instanceof RoomMessageRequest && this.sendRoomEvent) rooms.push(request);
        else if (!(await this.send(request))) failed = true;
      }
      this.#failed = failed;
    });
    // A room event is encrypted on its way out, and encrypting pumps: sent outside the lock, each only once at a time.
    for (const request of rooms) {
      if (this.#inFlight.has(request.id)) continue;
      this.#inFlight.add(request.id);
      try {
        await this.send(request);
      } finally {
        this.#inFlight.delete(request.id);
      }
    }
  }

  /** Whether a request of the last pump failed (the machine returns it again on the next pump). */
  get failed(): boolean {
    return this.#failed;
  }

  /** How many key uploads (`/keys/upload`) this pump has sent successfully. */
  get uploads(): number {
    return this.#uploads;
  }

  /** The one-time key counts the server gave in answer to the last key upload. */
  get uploadedKeyCounts(): Record<string, number> | undefined {
    return this.#uploadedKeyCounts;
  }

  /** Sends one request and reports its response to the machine; returns whether it succeeded. */
  async send(request: OutgoingRequest): Promise<boolean> {
    const type = request.type;
    try {
      const response = await sendRequest(this.api, request, this.sendRoomEvent);
      const id = request.id;
      if (id !== undefined) await this.machine.markRequestAsSent(id, type, JSON.stringify(response));
      if (request instanceof KeysUploadRequest) {
        this.#uploads++;
        const counts = (response as { one_time_key_counts?: unknown } | undefined)?.one_time_key_counts;
        if (counts && typeof counts === "object")
          this.#uploadedKeyCounts = Object.fromEntries(Object.entries(counts).filter(([, n]) => Number.isSafeInteger(n) && (n as number) >= 0)) as Record<string, number>;
      }
      return true;
    } catch (error) {
      this.log.warn({ requestType: RequestType[type], error: (error as Error).message }, "crypto request failed; will retry");
      return false;
    }
  }
}
