/**
 * The built-in `help` command. Everything it prints that an author or sender wrote (names,
 * descriptions, the prefix) is escaped and mention-neutralised, and replies carry an empty
 * `m.mentions`: help output can neither inject markup nor ping anyone.
 *
 * @module
 */
import { escapeHtml } from "../content/sanitize.js";
import { neutralizeMentions } from "../content/mentions.js";
import type { MessageOptions } from "../content/message.js";
import { passesChecks, type CheckLike } from "./checks.js";
import { defineCommand, type AnyCommandDefinition, type Command } from "./command.js";
import { CommandContext } from "./context.js";
import type { FrameworkMessages } from "./messages.js";
import type { CommandPrefix } from "./prefix.js";
import type { CommandRegistry } from "./registry.js";

/** What the help command reads from the router (`CommandRouter` is one). */
export interface HelpSource {
  readonly prefix: CommandPrefix;
  readonly globalChecks: readonly CheckLike[];
  readonly registry: CommandRegistry;
  readonly messages: FrameworkMessages;
}

/** Text for `body` (mentions neutralised). */
const plain = (text: string): string => neutralizeMentions(text);
/** Text for `formatted_body` (neutralised, then escaped). */
const html = (text: string): string => escapeHtml(neutralizeMentions(text));

/** The prefix to show: the one the sender used, unless they used the bot's mention. */
function shownPrefix(router: HelpSource, ctx: CommandContext): string {
  if (!ctx.viaMention) return ctx.invokingPrefix;
  const p = router.prefix;
  const first = typeof p === "string" ? p : p instanceof RegExp ? undefined : p.find((s) => s !== "");
  return first === undefined || first === "" ? ctx.invokingPrefix : first;
}

function usageLine(prefix: string, name: string, command: Command): string {
  return `${prefix}${name}${command.usage === "" ? "" : ` ${command.usage}`}`;
}

/** A help message, answered through `ctx.respond`: `m.mentions` empty even though it is a reply. */
interface HelpText {
  readonly html: string;
  readonly plain: string;
}

function respondWith(ctx: CommandContext, text: HelpText): ReturnType<CommandContext["respond"]> {
  const options: MessageOptions = {
    format: "html",
    mentions: { userIds: [] },
    replyTo: { ...ctx.replyTo, mentionSender: false },
    override: { body: text.plain },
  };
  return ctx.respond(text.html, options);
}

/** Whether the sender could run `command` here right now (checks run as for a real invocation). */
async function canRun(router: HelpSource, ctx: CommandContext, command: Command): Promise<boolean> {
  if (command.hidden || command.disabled) return false;
  const probe = new CommandContext(ctx.bot, ctx.room, ctx.message, command, {
    prefix: ctx.invokingPrefix,
    mention: ctx.viaMention,
    invokedWith: command.name,
    argumentText: "",
    formattedBody: undefined,
    replyTo: ctx.replyTo,
  });
  return passesChecks(probe, [...router.globalChecks, ...command.checks]);
}

/** Stands for the usage in the footer text, so the usage can be set in `<code>` in HTML. */
const MARK = "\u0000usage\u0000";

function footerHtml(text: string, usage: string): string {
  return text.split(MARK).map(html).join(`<code>${html(usage)}</code>`);
}

async function listing(router: HelpSource, ctx: CommandContext): Promise<HelpText> {
  const prefix = shownPrefix(router, ctx);
  const visible: Command[] = [];
  for (const command of router.registry) if (await canRun(router, ctx, command)) visible.push(command);
  visible.sort((a, b) => a.name.localeCompare(b.name));
  const lines = visible.map((c) => ({ usage: usageLine(prefix, c.name, c), summary: c.summary }));
  const more = `${prefix}${ctx.invokedWith} <command>`;
  const words = router.messages;
  const header = words.helpHeader();
  const body = [
    plain(header),
    ...lines.map((l) => plain(l.summary === undefined ? l.usage : `${l.usage} — ${l.summary}`)),
    plain(words.helpFooter({ usage: more })),
  ].join("\n");
  const items = lines.map((l) => `<li><code>${html(l.usage)}</code>${l.summary === undefined ? "" : ` — ${html(l.summary)}`}</li>`);
  const formatted =
    `<p><strong>${html(header)}</strong></p><ul>${items.join("")}</ul>` +
    `<p>${footerHtml(words.helpFooter({ usage: MARK }), more)}</p>`;
  return { html: formatted, plain: body };
}

function details(router: HelpSource, ctx: CommandContext, command: Command): HelpText {
  const prefix = shownPrefix(router, ctx);
  const body: string[] = [usageLine(prefix, command.name, command)];
  const words = router.messages;
  const disabled = command.disabled ? words.helpDisabled() : "";
  const formatted: string[] = [`<p><code>${html(body[0] ?? "")}</code>${html(disabled)}</p>`];
  body[0] += disabled;
  if (command.description !== undefined) {
    body.push(command.description);
    formatted.push(`<p>${html(command.description).replace(/\n/g, "<br>")}</p>`);
  }
  if (command.aliases.length > 0) {
    const aliases = command.aliases.map((a) => `${prefix}${a}`);
    body.push(`${words.helpAliases()} ${aliases.join(", ")}`);
    formatted.push(`<p>${html(words.helpAliases())} ${aliases.map((a) => `<code>${html(a)}</code>`).join(", ")}</p>`);
  }
  if (command.specs.length > 0) {
    body.push(words.helpArguments());
    const items = command.specs.map((spec) => {
      const type = words.helpArgumentType({ type: spec.parser.type, required: spec.required, variadic: spec.mode === "variadic" });
      const description = spec.description === undefined ? "" : `: ${spec.description}`;
      body.push(`• ${spec.name} (${type})${description}`);
      return `<li><code>${html(spec.name)}</code> (${html(type)})${html(description)}</li>`;
    });
    formatted.push(`<p>${html(words.helpArguments())}</p><ul>${items.join("")}</ul>`);
  }
  return { html: formatted.join(""), plain: plain(body.join("\n")) };
}

/**
 * The `help` command: `help` lists what the sender can run here (hidden, disabled and
 * check-failing commands left out); `help <command>` shows one command in full.
 */
export function helpCommand(router: HelpSource): AnyCommandDefinition {
  return defineCommand(
    "help",
    {
      args: "[command]",
      description: router.messages.helpDescription(),
    },
    async (ctx, { command: name }) => {
      if (name === undefined) return respondWith(ctx, await listing(router, ctx));
      const found = router.registry.get(name) ?? router.registry.get(stripPrefix(router, name));
      if (found === undefined || found.hidden) {
        const text = router.messages.helpUnknownCommand({ name });
        return respondWith(ctx, { html: html(text), plain: plain(text) });
      }
      return respondWith(ctx, details(router, ctx, found));
    },
  ) as AnyCommandDefinition;
}

/** `help !ping` works like `help ping`: people often type the prefix. */
function stripPrefix(router: HelpSource, name: string): string {
  const p = router.prefix;
  const list = typeof p === "string" ? [p] : p instanceof RegExp ? [] : [...p];
  for (const prefix of list) if (prefix !== "" && name.startsWith(prefix)) return name.slice(prefix.length);
  return name;
}
