import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  CheckFailure,
  CommandArgumentsError,
  CommandDisabledError,
  CommandError,
  CommandOnCooldown,
  CommandParserError,
  InsufficientPower,
  NotADirectRoom,
  NotOwner,
} from "../../src/commands/errors.js";
import { defaultMessages, errorMessage, resolveMessages, type FrameworkMessages } from "../../src/commands/messages.js";
import { defaultErrorMessage } from "../../src/commands/router.js";
import { splitWithOffsets } from "../../src/commands/split.js";

function splitError(text: string): CommandParserError {
  try {
    splitWithOffsets(text);
  } catch (error) {
    if (error instanceof CommandParserError) return error;
  }
  throw new Error("expected a parser error");
}

test("the default table words every error exactly as before", () => {
  const cases: [unknown, string][] = [
    [CommandArgumentsError.missing("count", "!give <user> <count>"), 'Missing required argument "count". Usage: !give <user> <count>'],
    [CommandArgumentsError.tooMany(2, 3, "!add <a> <b>"), "Too many arguments (expected at most 2, got 3). Usage: !add <a> <b>"],
    [CommandArgumentsError.tooMany(0, 1, ""), "Too many arguments (expected no arguments, got 1). This command takes no arguments."],
    [CommandParserError.invalid("an integer", "abc").forArgument("n"), 'Argument "n": expected an integer, got "abc"'],
    [CommandParserError.invalid("a room", "#x:y", "could not resolve #x:y").forArgument("room"), 'Argument "room": expected a room, got "#x:y" (could not resolve #x:y)'],
    [CommandParserError.invalid("an integer", "abc"), 'Expected an integer, got "abc"'],
    [splitError('say "hi'), 'Unterminated quote " starting at position 4'],
    [new CheckFailure("custom"), "You can't use this command here."],
    [new CheckFailure("custom", "Only on Tuesdays."), "Only on Tuesdays."],
    [new NotOwner(), "Only the bot's owner can use this command."],
    [new NotOwner("Owners only, sorry."), "Owners only, sorry."],
    [new InsufficientPower(50, 0), "You need power level 50 to use this command (you have 0)."],
    [new NotADirectRoom(), "This command can only be used in a direct message with the bot."],
    [new NotADirectRoom("DM me."), "DM me."],
    [new CommandDisabledError("off"), 'The command "off" is currently disabled.'],
    [new CommandOnCooldown(61_500), "This command is on cooldown. Try again in 1m 2s."],
    [new CommandError("not today"), "Not today"],
    [new Error("kaboom"), "Something went wrong while running this command (internal error)."],
  ];
  for (const [error, text] of cases) {
    assert.equal(errorMessage(error, defaultMessages, "!cmd"), text);
    assert.equal(defaultErrorMessage(error), text);
    // The error's own message is the same text (lower-case start aside): logs and replies agree.
    if (error instanceof CommandError) assert.equal(error.message.charAt(0).toUpperCase() + error.message.slice(1), text);
  }
});

test("property: for any argument name and input, the default reply is the error's message", () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.string({ minLength: 1 }), fc.option(fc.string(), { nil: undefined }), (name, usage, expected, detail) => {
      const parser = CommandParserError.invalid(expected, `${name}!`, detail).forArgument(name);
      assert.equal(errorMessage(parser, defaultMessages, usage), parser.message);
      const missing = CommandArgumentsError.missing(name, usage);
      assert.equal(errorMessage(missing), missing.message);
    }),
  );
});

test("overrides replace only their entries and get typed parameters", () => {
  const seen: unknown[] = [];
  const messages = resolveMessages({
    argument: (p) => (seen.push(p), `Argument „${p.name}“: erwartet ${p.expected}, erhalten ${p.got}.`),
    cooldown: ({ duration, retryAfterMs }) => `Warte ${duration} (${retryAfterMs})`,
    insufficientPower: ({ required, actual }) => `${actual} < ${required}`,
    checkFailed: ({ check, message }) => `${check}: ${message ?? "nein"}`,
    notOwner: () => "Nur der Besitzer.",
    internalError: () => "Interner Fehler.",
  } satisfies Partial<FrameworkMessages>);
  const long = "x".repeat(100);
  assert.equal(errorMessage(CommandParserError.invalid("an integer", long).forArgument("n"), messages, "!add <n>"), `Argument „n“: erwartet an integer, erhalten "${"x".repeat(59)}…".`);
  assert.deepEqual(seen[0], { name: "n", expected: "an integer", got: `"${"x".repeat(59)}…"`, detail: undefined, usage: "!add <n>", message: `Argument "n": expected an integer, got "${"x".repeat(59)}…"` });
  assert.equal(errorMessage(new CommandOnCooldown(1500), messages), "Warte 2s (1500)");
  assert.equal(errorMessage(new InsufficientPower(50, 10), messages), "10 < 50");
  assert.equal(errorMessage(new CheckFailure("weekday"), messages), "weekday: nein");
  assert.equal(errorMessage(new CheckFailure("weekday", "Only on Tuesdays."), messages), "weekday: Only on Tuesdays.");
  assert.equal(errorMessage(new NotOwner(), messages), "Nur der Besitzer.");
  assert.equal(errorMessage(new NotOwner("custom"), messages), "owner: custom", "a check's own text goes through checkFailed");
  assert.equal(errorMessage(new TypeError("bug"), messages), "Interner Fehler.");
  // Untouched entries are the defaults, and the defaults table is not modified.
  assert.equal(messages.disabled, defaultMessages.disabled);
  assert.equal(errorMessage(new CommandDisabledError("x"), messages), 'The command "x" is currently disabled.');
  assert.equal(defaultMessages.cooldown({ retryAfterMs: 1000, duration: "1s" }), "This command is on cooldown. Try again in 1s.");
  assert.ok(Object.isFrozen(defaultMessages));
});

test("help defaults", () => {
  assert.equal(defaultMessages.helpArgumentType({ type: "integer", required: true, variadic: false }), "integer");
  assert.equal(defaultMessages.helpArgumentType({ type: "integer", required: false, variadic: false }), "integer, optional");
  assert.equal(defaultMessages.helpArgumentType({ type: "string", required: true, variadic: true }), "string, one or more");
  assert.equal(defaultMessages.helpArgumentType({ type: "string", required: false, variadic: true }), "string, any number");
  assert.equal(defaultMessages.helpFooter({ usage: "!help <command>" }), "Use !help <command> for details.");
});
