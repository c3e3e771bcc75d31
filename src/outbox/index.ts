/**
 * The outbox: the per-room send queue, encryption, transaction ids and sent hooks under every
 * outgoing room event (see `outbox.ts`).
 *
 * @module
 */
export { Outbox, type OutboxEncrypter, type OutboxHost, type SendHook, type SentEvent } from "./outbox.js";
