/**
 * Loading the wasm crypto library early (see {@link loadCryptoWasm}). Kept
 * apart from `crypto.ts` so that starting the compile imports nothing but
 * the library's own module.
 *
 * @module
 */
let wasmLoading: Promise<void> | undefined;

/**
 * Starts loading and compiling the wasm crypto library, once per process, and
 * returns when it is ready. The bot calls it first thing in `start()`: the
 * compile (the longest single step before the machine can open) then runs
 * beside the store opening, the login check and the import of the rest of the
 * crypto layer, instead of after that import. Only the library's own module
 * is imported here, and its own `initAsync` does the work, so anything else
 * in the process that calls `initAsync` shares the one instance.
 */
export function loadCryptoWasm(): Promise<void> {
  if (wasmLoading) return wasmLoading;
  const loading = import("@matrix-org/matrix-sdk-crypto-wasm").then((wasm) => wasm.initAsync());
  // A failure is reported where the machine is opened (`BotCrypto.begin` awaits the same load); the next start tries again.
  loading.catch(() => (wasmLoading === loading ? (wasmLoading = undefined) : undefined));
  wasmLoading = loading;
  return loading;
}
