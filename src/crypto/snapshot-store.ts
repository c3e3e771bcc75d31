/**
 * Where a crypto store persists when it is not a file (see `storage/crypto-snapshot.ts`, where
 * the interface lives so that stores below the crypto layer can implement it).
 *
 * @module
 */
export type { CryptoSnapshotStore } from "../storage/crypto-snapshot.js";
