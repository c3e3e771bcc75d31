/**
 * The public API, pinned. `niobot` is what bot authors use and `niobot/advanced` the machinery
 * under it (issue 12). The root export list is spelled out here, so growing it is a decision
 * made in review: add the name below in the same change, and ask whether it belongs in
 * `niobot/advanced` instead. `npx tsx scripts/count-exports.ts` counts the built package.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { declaredExports } from "../../scripts/count-exports.js";

const root = resolve(import.meta.dirname, "../..");

const ROOT_VALUES = [
  "AppserviceIdentityError", "Attachment", "AttachmentDecryptionError", "AttachmentError",
  "AttachmentTooLargeError", "BotLacksPower", "CheckFailure", "CommandArgumentsError", "CommandDisabledError",
  "CommandError", "CommandOnCooldown", "CommandParserError", "CryptoStoreLockedError", "CryptoStoreLostError",
  "DiscoveryError", "EditRefusedError", "EncryptionRequiredError", "EncryptionStateUnknownError",
  "HandlerTimeoutError", "IdentityError", "InsufficientPower", "KvKeyError", "KvValueError", "LeaseLostError",
  "LoginError", "MatrixError", "MatrixNetworkError", "MemoryStore", "MissingToolError", "NioBot",
  "NotADirectRoom", "NotOwner", "OnceInterruptedError", "OnceResultError", "PostgresStore",
  "RecoveryKeyFormatError", "RegistrationError", "SecretStorageError", "SqliteStore", "StoreFencedError",
  "StoreLockedError", "StoreUnavailableError", "SyncBatchSkippedError", "UntrustedDevice",
  "VerificationCancelledError", "WaitTimeoutError", "arg", "args", "boolean", "buildMessageContent", "check",
  "choice", "clientHasPower", "command", "consoleLogger", "decryptAttachment", "decryptionInfo",
  "defaultMessages", "defineCommand", "defineModule", "detectMentions", "encryptAttachment", "errorMessage",
  "escapeHtml", "event", "float", "generateRegistration", "handlerSignal", "htmlToPlainText", "integer",
  "isAttachmentMessage", "isDecrypted", "isDm", "isEncryptedFile", "isEventId", "isMessageEvent", "isOwner",
  "isRoomAlias", "isRoomId", "isUserId", "json", "listener", "loadRegistration", "matrixTo", "matrixToLink",
  "mentionPill", "mxc", "neutralizeMentions", "neutralizeMentionsHtml", "parseMatrixLink",
  "registrationToYaml", "renderMarkdown", "resolveMessages", "rest", "room", "sanitizeHtml",
  "senderDeviceTrusted", "senderHasPower", "signature", "silentLogger", "string", "user", "variadic",
];

const ROOT_TYPES = [
  "AppserviceNamespace", "AppserviceOptions", "AppserviceRegistration", "ArgsOf", "ArgumentParser",
  "AttachmentInfo", "AttachmentKind", "AttachmentMessage", "AttachmentOptions", "AuthChallenge",
  "Authenticate", "AutoJoinPolicy", "AutoReadReceipts", "BotHealth", "CheckFunction", "CheckLike",
  "ChoiceOptions", "ClientEvent", "CommandCheck", "CommandContext", "CommandDefinition", "CommandHandler",
  "CommandOptions", "CommandPrefix", "CommandResponse", "ContentOptions", "CooldownOptions", "CooldownScope",
  "CoreBotEvents", "Credentials", "DecryptionInfo", "EditOptions", "EncryptedFile", "ErrorContext",
  "EventReference", "FrameworkMessages", "GenerateRegistrationOptions", "IntegerOptions", "Kv", "KvEntry",
  "KvSpace", "LeaseOptions", "LogLevel", "Logger", "MarkReadOptions", "MatrixLink", "MemberEvent",
  "Membership", "MentionPill", "Mentions", "MentionsOption", "MessageContent", "MessageEvent",
  "MessageFormat", "MessageOptions", "ModuleDefinition", "ModuleListeners", "NioBotOptions",
  "ParameterSchema", "ParseContext", "PostgresStoreOptions", "RangeOptions", "ReactionEvent",
  "RedactionEvent", "ReplyOptions", "ReplyTo", "RequestInfo", "RetryOptions", "Room", "RoomMember",
  "SasEmoji", "SendAttachmentOptions", "Sendable", "SenderPowerOptions", "Session", "ShortAuthString",
  "SignatureOptions", "StateEvent", "Store", "ThreadTarget", "TrustMode", "TypingOptions",
  "UrlAttachmentOptions", "Verification", "VerificationState", "VirtualUser", "VirtualUserProfile",
  "WaitForMessageOptions",
];

/** Internals the issue names: none of them is a root export; all are in `niobot/advanced`. */
const INTERNALS = ["SyncEngine", "RoomTracker", "Messenger", "MessageCache", "CommandRouter", "HttpClient", "MatrixApi", "BotCrypto", "SecretStorage", "DirectMessages"];

describe("the root export (niobot)", () => {
  test("its values are exactly the pinned list", async () => {
    const actual = Object.keys(await import("../../src/index.js")).sort();
    assert.deepEqual(actual, [...ROOT_VALUES].sort());
  });

  test("its type-only exports are exactly the pinned list", () => {
    const { values, types } = declaredExports(resolve(root, "src/index.ts"));
    assert.deepEqual(values, [...ROOT_VALUES].sort(), "the declarations agree with the runtime");
    assert.deepEqual(types, [...ROOT_TYPES].sort());
  });

  test("names every export explicitly: no `export *`", () => {
    for (const file of ["src/index.ts", "src/advanced/index.ts"]) {
      assert.doesNotMatch(readFileSync(resolve(root, file), "utf8"), /^export (type )?\*/m, file);
    }
  });

  test("keeps internals out", async () => {
    const api = (await import("../../src/index.js")) as Record<string, unknown>;
    for (const name of INTERNALS) assert.equal(api[name], undefined, name);
  });
});

describe("niobot/advanced", () => {
  test("resolves through package.json exports to the built subpath", () => {
    const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8")) as { exports: Record<string, unknown> };
    assert.deepEqual(pkg.exports["./advanced"], { types: "./dist/advanced/index.d.ts", import: "./dist/advanced/index.js" });
    // dist/ is src/ compiled with rootDir src: the entry's source is src/advanced/index.ts.
    const build = JSON.parse(readFileSync(resolve(root, "tsconfig.build.json"), "utf8")) as { compilerOptions: { rootDir: string; outDir: string } };
    assert.deepEqual([build.compilerOptions.rootDir, build.compilerOptions.outDir], ["src", "dist"]);
  });

  test("holds the internals, and no name twice with the root except the classes the root gives as types", async () => {
    const advanced = (await import("../../src/advanced/index.js")) as Record<string, unknown>;
    for (const name of INTERNALS) assert.equal(typeof advanced[name], "function", name);
    const shared = Object.keys(advanced).filter((name) => ROOT_VALUES.includes(name));
    assert.deepEqual(shared, []);
  });
});
