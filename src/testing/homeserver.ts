/**
 * The homeserver of one test file: the dev Synapse (or `MATRIX_TEST_HOMESERVER`),
 * fresh accounts with unique localparts, and the people of each test.
 */
import { randomBytes } from "node:crypto";
type Json = Record<string, unknown>;
import { MatrixApi } from "../api/client.js";
import { createServer } from "node:net";
import { connectTestHomeserver, startDevHomeserver } from "../devserver/index.js";
import { generateRegistration, registrationToYaml, type AppserviceRegistration, type GenerateRegistrationOptions } from "../appservice/registration.js";
import type { RegisteredUser } from "../devserver/register.js";
import type { DevHomeserver, DevHomeserverOptions } from "../devserver/synapse.js";
import { TestPerson, type TestPersonOptions } from "./person.js";

/** A registered bot account, ready for `new NioBot({ homeserver, userId })` and `bot.start({ password })`. */
export interface TestBotAccount extends RegisteredUser {
  /** The homeserver's base URL. */
  homeserver: string;
}

/** A homeserver for one test file. Stop it in `after()`. */
export class TestHomeserver {
  /** The underlying server (its registration secret is a secret: never log it). */
  readonly server: DevHomeserver;
  readonly #accounts = new Map<string, RegisteredUser>();
  readonly #people: TestPerson[] = [];

  constructor(server: DevHomeserver) {
    this.server = server;
  }

  /** Base URL, e.g. `http://127.0.0.1:PORT`. */
  get baseUrl(): string {
    return this.server.baseUrl;
  }

  /** The server name in user ids (`@alice-…:serverName`). */
  get serverName(): string {
    return this.server.serverName;
  }

  /** Registers an account named `<name>-<random>`, so every test gets fresh users. */
  async register(name = "user", options: { admin?: boolean; displayName?: string } = {}): Promise<RegisteredUser> {
    const localpart = `${name.toLowerCase().replace(/[^a-z0-9._=-]/g, "_")}-${randomBytes(4).toString("hex")}`;
    const account = await this.server.registerUser(localpart, `pw-${randomBytes(12).toString("hex")}`, options);
    this.#accounts.set(account.userId, account);
    return account;
  }

  /** A fresh account for the bot under test. */
  async botAccount(name = "bot"): Promise<TestBotAccount> {
    return { ...(await this.register(name)), homeserver: this.baseUrl };
  }

  /** A fresh person with a running client (encrypting when `encrypted: true`); stopped by {@link TestHomeserver.stop}. */
  async user(name = "user", options: TestPersonOptions = {}): Promise<TestPerson> {
    const person = await TestPerson.start(this.baseUrl, await this.register(name, { displayName: options.displayName ?? name }), options);
    this.#people.push(person);
    return person;
  }

  /** An API client acting as an account this homeserver registered (the bot's, say), for reading its state. */
  apiAs(userId: string): MatrixApi {
    const account = this.#accounts.get(userId);
    if (!account) throw new Error(`${userId} was not registered by this TestHomeserver`);
    return new MatrixApi({ baseUrl: this.baseUrl, accessToken: account.accessToken });
  }

  /** Global account data of a registered account (undefined when absent), e.g. the bot's `m.direct`. */
  async accountData(userId: string, type: string, roomId?: string): Promise<Json | undefined> {
    const api = this.apiAs(userId);
    try {
      return roomId === undefined ? await api.accountData.get(userId, type) : await api.accountData.getRoom(userId, roomId, type);
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw error;
    }
  }

  /** A room state event as a registered account sees it (undefined when absent). */
  async roomState(userId: string, roomId: string, eventType: string, stateKey = ""): Promise<Json | undefined> {
    try {
      return await this.apiAs(userId).rooms.getState(roomId, eventType, stateKey);
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw error;
    }
  }

  /** Stops every person's client of this file and the homeserver (when it was started here). */
  async stop(): Promise<void> {
    await Promise.allSettled(this.#people.splice(0).map((p) => p.stop()));
    await this.server.stop();
  }
}

/**
 * Starts the homeserver of a test file: the server named by
 * `MATRIX_TEST_HOMESERVER` and `MATRIX_TEST_REGISTRATION_SECRET` when set,
 * else a local Synapse (Linux, root filesystem cached in `~/.cache/niobot`).
 */
export async function startTestHomeserver(options?: DevHomeserverOptions): Promise<TestHomeserver> {
  // A registration is read when Synapse starts, so an external server cannot take one: start a local one.
  if (options?.appservices?.length) return new TestHomeserver(await startDevHomeserver(options));
  return new TestHomeserver(await connectTestHomeserver(options));
}

/**
 * A registration for an appservice under test: fresh tokens, and a `url` on a free loopback
 * port (Synapse shares the host's network). Pass `{ yaml }` of it to {@link startTestHomeserver}'s
 * `appservices`, and the registration itself to the bot's `appservice.registration`.
 *
 * @example
 * const registration = await testAppserviceRegistration({ senderLocalpart: "mybot" });
 * const hs = await startTestHomeserver({ appservices: [{ yaml: registrationToYaml(registration) }] });
 */
export async function testAppserviceRegistration(options: Partial<GenerateRegistrationOptions> = {}): Promise<AppserviceRegistration> {
  const port = await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no free port"))));
    });
  });
  return generateRegistration({ serverName: "localhost", url: `http://127.0.0.1:${port}`, ...options });
}

export { registrationToYaml };
