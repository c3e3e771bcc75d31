/**
 * Loading a dependency on first use instead of with niobot: most bots never
 * render markdown, sanitize HTML or parse formatted bodies, and a plain
 * `pong` should not pay for the libraries that do.
 *
 * @module
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/**
 * A getter that loads a package synchronously on its first call and returns
 * the same module afterwards. CommonJS packages load as usual; ES modules
 * (without top-level await) through `require(esm)`, which Node has without a
 * flag since 20.19. The module is the same instance an `import` would get.
 *
 * @example
 * const markedModule = lazyModule<typeof import("marked")>("marked");
 * new (markedModule().Marked)();
 */
export function lazyModule<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
