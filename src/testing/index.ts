/**
 * `niobot/testing`: test a bot against a real homeserver in a few lines.
 * Framework-agnostic: failures are plain `Error`s whose message carries the
 * room's transcript, so it works under node:test, Vitest and Jest.
 *
 * @example
 * const hs = await startTestHomeserver();
 * const account = await hs.botAccount();
 * const bot = createMyBot(account);
 * await bot.start({ password: account.password });
 * const alice = await hs.user("alice");
 * const room = await alice.dm(bot.userId);
 * await alice.say(room, "!add 2 3");
 * await alice.expectReply(room, /5/);
 */
export { registrationToYaml, startTestHomeserver, testAppserviceRegistration, TestHomeserver, type TestBotAccount } from "./homeserver.js";
export { inReplyToOf, threadRootOf, TestPerson, type ExpectOptions, type SayOptions, type TestFile, type TestPersonOptions } from "./person.js";
export { describeEvent, formatTranscript, type SeenEvent } from "./transcript.js";
