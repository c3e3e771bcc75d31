/**
 * matrix-bot-sdk answering `!ping` the way its README shows, without
 * encryption and with a MemoryStorageProvider. Its native crypto addon is an
 * empty stand-in here (see bench/stub-crypto-nodejs): encryption is off, so
 * it is never called.
 */
import { LogLevel, LogService, MatrixClient, MemoryStorageProvider } from "matrix-bot-sdk";
import { benchEnv, serveReports } from "./report.mjs";

serveReports();
const env = benchEnv();
// Like niobot's bench bot: warnings and errors only.
LogService.setLevel(LogLevel.WARN);

/**
 * matrix-bot-sdk hands the first sync's timeline to listeners as if it were
 * new; like the other bots (niobot's `ignoreOldEvents`), this one treats it
 * as history.
 */
class Client extends MatrixClient {
  listening = false;
  async processSync(raw, emitFn) {
    await super.processSync(raw, emitFn);
    this.listening = true;
  }
}

const client = new Client(env.homeserver, env.accessToken, new MemoryStorageProvider());
client.on("room.message", async (roomId, event) => {
  if (!client.listening || event.sender === env.userId || event.content?.body !== "!ping") return;
  // A failed reply is logged, not an unhandled rejection that ends the process.
  await client.replyNotice(roomId, event, "pong").catch((error) => LogService.error("bench", `reply failed: ${error}`));
});
await client.start();
