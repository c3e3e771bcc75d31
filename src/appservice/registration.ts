/**
 * Application service registrations: reading, checking and generating the YAML
 * file a homeserver loads (`app_service_config_files` in Synapse), and matching
 * user ids against its namespaces.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { registerSecret } from "../logging/redact.js";
import { lazyModule } from "../util/lazy.js";

/** The YAML library loads with the first registration read or written, not with niobot (it is most of an import's time). */
const yaml = lazyModule<typeof import("yaml")>("yaml");

/** One namespace entry: a regular expression and whether the appservice owns it alone. */
export interface AppserviceNamespace {
  /** Whether no one else may use ids matching `regex`. */
  exclusive: boolean;
  /** A regular expression over full ids (`@_bridge_.*:example\\.org`). */
  regex: string;
}

/** A registration, as the spec defines it (`application-service/definitions/registration.yaml`). Its tokens are secrets. */
export interface AppserviceRegistration {
  /** Unique id of the appservice (never changes). */
  id: string;
  /** Where the homeserver reaches the appservice, or null for no traffic. */
  url: string | null;
  /** Token the appservice authenticates to the homeserver with. Secret. */
  as_token: string;
  /** Token the homeserver authenticates to the appservice with. Secret. */
  hs_token: string;
  /** Localpart of the appservice's own user: the bot's main user. */
  sender_localpart: string;
  /** Namespaces of users, room aliases and room ids the appservice is interested in. */
  namespaces: { users?: AppserviceNamespace[]; aliases?: AppserviceNamespace[]; rooms?: AppserviceNamespace[] };
  /** Whether masqueraded users are rate-limited (niobot writes false). */
  rate_limited?: boolean;
  /** Whether the appservice receives typing, receipts and presence. */
  receive_ephemeral?: boolean;
  /** Third-party protocols served. */
  protocols?: string[];
  /** MSC2409: to-device events in transactions (Synapse's name for it). */
  "de.sorunome.msc2409.push_ephemeral"?: boolean;
  /** MSC3202: device lists and one-time key counts in transactions. */
  "org.matrix.msc3202"?: boolean;
}

/** A registration file that cannot be used; says what is wrong. */
export class RegistrationError extends Error {
  override readonly name = "RegistrationError";
}

/**
 * Checks a parsed registration: required fields present and typed, namespaces
 * compile. Registers both tokens as secrets, so no log line can show them.
 *
 * @throws {@link RegistrationError} naming the first problem.
 */
export function validateRegistration(value: unknown): AppserviceRegistration {
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new RegistrationError("a registration must be a mapping");
  const r = value as Record<string, unknown>;
  for (const key of ["id", "as_token", "hs_token", "sender_localpart"] as const)
    if (typeof r[key] !== "string" || r[key] === "") throw new RegistrationError(`registration field "${key}" must be a non-empty string`);
  registerSecret(r.as_token as string);
  registerSecret(r.hs_token as string);
  if (r.url !== null && typeof r.url !== "string") throw new RegistrationError(`registration field "url" must be a string or null`);
  const ns = r.namespaces;
  if (!ns || typeof ns !== "object" || Array.isArray(ns)) throw new RegistrationError(`registration field "namespaces" must be a mapping`);
  for (const kind of ["users", "aliases", "rooms"] as const) {
    const list = (ns as Record<string, unknown>)[kind];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new RegistrationError(`namespaces.${kind} must be a list`);
    for (const entry of list as unknown[]) {
      const e = entry as Partial<AppserviceNamespace> | null;
      if (!e || typeof e.regex !== "string" || typeof e.exclusive !== "boolean")
        throw new RegistrationError(`every entry of namespaces.${kind} needs a string "regex" and a boolean "exclusive"`);
      try {
        new RegExp(e.regex);
      } catch (error) {
        throw new RegistrationError(`namespaces.${kind} regex ${JSON.stringify(e.regex)} does not compile: ${(error as Error).message}`);
      }
    }
  }
  return value as AppserviceRegistration;
}

/** Parses registration YAML (or JSON, which is YAML) and validates it. */
export function parseRegistration(text: string): AppserviceRegistration {
  let value: unknown;
  try {
    value = yaml().parse(text);
  } catch (error) {
    throw new RegistrationError(`the registration is not valid YAML: ${(error as Error).message}`);
  }
  return validateRegistration(value);
}

/** Reads and validates a registration file. */
export async function loadRegistration(path: string): Promise<AppserviceRegistration> {
  return parseRegistration(await readFile(path, "utf8"));
}

/** The registration as YAML, in the field order people expect. */
export function registrationToYaml(registration: AppserviceRegistration): string {
  return yaml().stringify(registration, { lineWidth: 0 });
}

/** Options of {@link generateRegistration}. */
export interface GenerateRegistrationOptions {
  /** Appservice id (default `niobot`). */
  id?: string;
  /** Where the homeserver reaches the appservice, e.g. `http://127.0.0.1:9000`. */
  url: string;
  /** Localpart of the bot's main user (default `niobot`). */
  senderLocalpart?: string;
  /** The homeserver's server name, used to anchor namespace regexes (e.g. `example.org`). */
  serverName: string;
  /** Localpart prefixes of virtual users, each becoming an exclusive `@<prefix>.*:<server>` namespace (default `[\`_${id}_\`]`). */
  userPrefixes?: string[];
  /** Alias prefixes, each becoming an exclusive `#<prefix>.*:<server>` namespace (default none). */
  aliasPrefixes?: string[];
  /** Whether masqueraded users are rate-limited (default false: that is what appservices are for). */
  rateLimited?: boolean;
  /** Receive typing, receipts and presence (default false). */
  receiveEphemeral?: boolean;
}

/** Escapes text for use as a literal inside a regular expression. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A new registration with fresh random tokens (32 bytes each, hex). */
export function generateRegistration(options: GenerateRegistrationOptions): AppserviceRegistration {
  const id = options.id ?? "niobot";
  const server = escapeRegex(options.serverName);
  const token = (): string => randomBytes(32).toString("hex");
  const userPrefixes = options.userPrefixes ?? [`_${id}_`];
  return validateRegistration({
    id,
    url: options.url,
    as_token: token(),
    hs_token: token(),
    sender_localpart: options.senderLocalpart ?? "niobot",
    rate_limited: options.rateLimited ?? false,
    receive_ephemeral: options.receiveEphemeral ?? false,
    namespaces: {
      users: userPrefixes.map((p) => ({ exclusive: true, regex: `@${escapeRegex(p)}.*:${server}` })),
      aliases: (options.aliasPrefixes ?? []).map((p) => ({ exclusive: true, regex: `#${escapeRegex(p)}.*:${server}` })),
      rooms: [],
    },
  });
}

/** Longest user id the spec allows; longer ids never reach a namespace regex. */
const MAX_USER_ID_LENGTH = 255;

/**
 * Matches ids against a registration's namespaces. The regexes are the
 * operator's (trusted config) but the ids may come from anyone, so ids are
 * capped at the spec's 255 characters before matching.
 */
export class NamespaceMatcher {
  readonly #users: RegExp[];
  readonly #aliases: RegExp[];
  readonly #sender: string;

  constructor(registration: AppserviceRegistration, serverName: string) {
    // Namespaces match whole ids (Synapse anchors them the same way).
    const compile = (list: AppserviceNamespace[] | undefined): RegExp[] => (list ?? []).map((n) => new RegExp(`^(?:${n.regex})$`));
    this.#users = compile(registration.namespaces.users);
    this.#aliases = compile(registration.namespaces.aliases);
    this.#sender = `@${registration.sender_localpart}:${serverName}`;
  }

  /** Whether the appservice may act as this user: its sender or a user namespace. */
  isOwnUser(userId: string): boolean {
    if (userId === this.#sender) return true;
    return userId.length <= MAX_USER_ID_LENGTH && this.#users.some((r) => r.test(userId));
  }

  /** Whether a room alias is in the alias namespaces. */
  isOwnAlias(alias: string): boolean {
    return alias.length <= MAX_USER_ID_LENGTH && this.#aliases.some((r) => r.test(alias));
  }
}
