/** Clean shutdown on SIGINT/SIGTERM. */
import type { Logger } from "../logging/logger.js";

/**
 * On SIGINT or SIGTERM, runs `stop` and then re-raises the signal with our
 * handler removed, so the process ends exactly as it would have without us
 * (exit code included) — but only after the sync position is saved.
 * Returns a function that uninstalls the handlers.
 */
export function installSignalHandlers(stop: () => Promise<void>, log: Logger): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    uninstall();
    log.info({ signal }, "stopping");
    stop().then(
      () => process.kill(process.pid, signal),
      (error: unknown) => {
        log.error({ error: error instanceof Error ? error : String(error) }, "error while stopping");
        process.kill(process.pid, signal);
      },
    );
  };
  const uninstall = (): void => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return uninstall;
}
