/**
 * Hostile input (issue 11, findings 1, 9, 16, 17): what any room member can send must cost
 * the bot little, whatever its shape. The time bound is asked for by the issue: every call
 * below must finish within {@link BOUND_MS} on this machine, for any string up to 64 KB.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { extractLinks, leadingLink, userPills } from "../../src/commands/matrix.js";
import { room, user, type ParseContext } from "../../src/commands/parsers.js";
import { parseArguments } from "../../src/commands/parse.js";
import { matchPrefix, stripReplyFallback, stripReplyFallbackHtml } from "../../src/commands/prefix.js";
import { splitWithOffsets } from "../../src/commands/split.js";
import { MARKDOWN_MAX_LENGTH, renderMarkdown } from "../../src/content/markdown.js";
import { WORD_JOINER, neutralizeMentions } from "../../src/content/mentions.js";
import { parseMatrixLink } from "../../src/ids/links.js";
import { userIdsInText } from "../../src/ids/text.js";
import { consoleLogger } from "../../src/logging/logger.js";

const BOUND_MS = 50;
const MAX_LENGTH = 65_536;
const BOT = "@bot:x.org";

/**
 * How long `fn` takes, in ms: the best of up to five runs, in wall-clock time and in CPU time
 * of this process. The machine is shared (two cores, many test processes), so a run can be
 * descheduled for longer than it works; CPU time counts only the work, and a slow algorithm
 * is slow in both measures, every time.
 */
async function fastest(fn: () => unknown): Promise<{ wall: number; cpu: number }> {
  let wall = Infinity;
  let cpu = Infinity;
  for (let i = 0; i < 5 && Math.min(wall, cpu) >= BOUND_MS; i++) {
    const start = performance.now();
    const startCpu = process.cpuUsage();
    try {
      await fn();
    } catch {
      // rejecting the input is a fine answer; only the time matters here
    }
    const used = process.cpuUsage(startCpu);
    wall = Math.min(wall, performance.now() - start);
    cpu = Math.min(cpu, (used.user + used.system) / 1000);
  }
  return { wall, cpu };
}

async function assertFast(what: string, input: string, fn: () => unknown): Promise<void> {
  const { wall, cpu } = await fastest(fn);
  assert.ok(
    Math.min(wall, cpu) < BOUND_MS,
    `${what} took ${wall.toFixed(1)} ms (${cpu.toFixed(1)} ms of CPU) on ${JSON.stringify(input.slice(0, 40))}… (${input.length} chars)`,
  );
}

function context(formattedBody: string): ParseContext {
  return {
    botUserId: BOT,
    roomId: "!here:x.org",
    sender: "@alice:x.org",
    formattedBody,
    resolveRoomAlias: () => Promise.resolve("!there:x.org"),
  };
}

/** Every untrusted-text entry point the issue names, each timed on its own. */
async function assertAllFast(s: string): Promise<void> {
  const opts = { botUserId: BOT, formattedBody: s, caseInsensitive: true };
  await assertFast("matchPrefix (hostile body and HTML)", s, () => matchPrefix(s, "!", opts));
  await assertFast("matchPrefix (hostile HTML)", s, () => matchPrefix("!ping", "!", opts));
  await assertFast("stripReplyFallbackHtml", s, () => stripReplyFallbackHtml(s));
  await assertFast("stripReplyFallback", s, () => stripReplyFallback(s));
  await assertFast("userPills", s, () => userPills(s));
  await assertFast("splitWithOffsets", s, () => splitWithOffsets(s, { phrases: userPills(s).map((p) => p.text) }));
  await assertFast("parseArguments", s, () => parseArguments("<who:user> <where:room> [rest...]", s, context(s)));
  await assertFast("user()", s, () => user().parse(s, context(s)));
  await assertFast("room()", s, () => room().parse(s, context(s)));
  await assertFast("renderMarkdown", s, () => renderMarkdown(s));
  await assertFast("neutralizeMentions", s, () => neutralizeMentions(s));
  await assertFast("userIdsInText", s, () => userIdsInText(s));
  await assertFast("parseMatrixLink", s, () => parseMatrixLink(s));
}

const FRAGMENTS = [
  '<a href="', "<a ", "[", ">", "a_", "@room", "<mx-reply>", "</mx-reply>", "&#", "&#x", "</a>", '">', "]",
  "(https://matrix.to/#/@a:x.org)", '<a href="https://matrix.to/#/@bot:x.org">', "@a", "\n", " ", "\\", "*",
  "`", "1. ", "<b>", "a", '"', "'", "<", "!",
];

const fragment = fc.constantFrom(...FRAGMENTS);
const hostile = fc.oneof(
  // One fragment repeated: the classic shape of a backtracking attack.
  fc
    .tuple(fragment, fc.integer({ min: 1, max: MAX_LENGTH }))
    .map(([f, n]) => f.repeat(Math.ceil(n / f.length)).slice(0, n)),
  // Runs of several fragments, up to 64 KB.
  fc
    .array(fc.tuple(fragment, fc.integer({ min: 1, max: 4_096 })), { minLength: 1, maxLength: 16 })
    .map((runs) => runs.map(([f, n]) => f.repeat(n)).join("").slice(0, MAX_LENGTH)),
  // Short mixes, under the markdown cap, where marked really runs.
  fc.array(fragment, { maxLength: 1_000 }).map((parts) => parts.join("").slice(0, MARKDOWN_MAX_LENGTH)),
  // Anything at all.
  fc.string({ unit: "binary", maxLength: MAX_LENGTH }),
);

describe("hostile input: every call stays under the time bound", () => {
  test(`random strings up to 64 KB: each call under ${BOUND_MS} ms`, async () => {
    await fc.assert(fc.asyncProperty(hostile, assertAllFast), { numRuns: 60 });
  });

  test("the payloads of the issue", async () => {
    const payloads = [
      '<a href="'.repeat(800), // 7.2 KB: 7.8 s before the fix
      '<a href="'.repeat(6_900), // 62 KB: did not finish in 5 minutes
      "<a ".repeat(20_700), // 62 KB: 0.8 s
      "<mx-reply>" + "<mx-reply ".repeat(6_200), // stripReplyFallbackHtml: 0.33 s
      "<mx-reply>".repeat(6_200),
      "[".repeat(60_000), // MD_PILL: 5.2 s
      "a_".repeat(30_000), // marked: 6 s
      ">".repeat(60_000), // marked: stack overflow
      "<".repeat(60_000), // the old tag stripping regex `<[^>]*>`
      "<b>".repeat(20_000), // deep nesting: htmlparser2's stack grows by unshift
      "&#".repeat(30_000),
      '<a href="https://matrix.to/#/@a:x.org">a</a>'.repeat(1_400),
    ];
    for (const s of payloads) await assertAllFast(s);
  });
});

describe("finding 1: pills and reply fallbacks are parsed, not pattern-matched", () => {
  const pill = (text: string, id = BOT): string => `<a href="https://matrix.to/#/${id}">${text}</a>`;

  test("a pill at the start is still found when hostile HTML follows it", () => {
    const html = `${pill("Helper")}: ping ${'<a href="'.repeat(800)}`;
    const m = matchPrefix("Helper: ping", "!", { botUserId: BOT, formattedBody: html, caseInsensitive: false });
    assert.deepEqual(m, { prefix: "Helper: ", rest: "ping", mention: true });
  });

  test("leadingLink looks at the first element only", () => {
    assert.equal(leadingLink(`  ${pill("A &amp; <b>B</b>")} x`)?.text, "A & B");
    assert.equal(leadingLink(`<b>x</b>${pill("A")}`), undefined);
    assert.equal(leadingLink(`<!-- c -->${pill("A")}`), undefined);
    assert.equal(leadingLink(`hi ${pill("A")}`), undefined);
    assert.equal(leadingLink(`<a name="x">y</a>${pill("A")}`), undefined);
    assert.equal(leadingLink('<a href="https://matrix.to/#/@bot:x.org">never closed'), undefined);
  });

  test("extractLinks decodes attributes and text, closes a link at the next, ignores unclosed ones", () => {
    assert.deepEqual(
      extractLinks(`<a href="x?a=1&amp;b=2">1 &lt; 2</a> <a href=y><a href=z>in</a>ner</a> <a href=w>open`).map(({ href, text }) => ({ href, text })),
      [
        { href: "x?a=1&b=2", text: "1 < 2" },
        { href: "y", text: "" },
        { href: "z", text: "in" },
      ],
    );
  });

  test("nesting beyond the spec's 100 levels is not followed", () => {
    const deep = "<b>".repeat(101) + pill("A", "@a:x.org");
    assert.deepEqual(userPills(deep), []);
    assert.deepEqual(userPills("<b>".repeat(99) + pill("A", "@a:x.org")), [{ text: "A", userId: "@a:x.org" }]);
    assert.equal(stripReplyFallbackHtml("<mx-reply>" + "<b>".repeat(120) + "</mx-reply>!ping"), "");
  });

  test("reply fallbacks: whitespace before the block is fine, anything else means no fallback", () => {
    assert.equal(stripReplyFallbackHtml(" \n<mx-reply>q</mx-reply>!ping"), "!ping");
    assert.equal(stripReplyFallbackHtml("<!-- x --><mx-reply>q</mx-reply>!ping"), "<!-- x --><mx-reply>q</mx-reply>!ping");
    assert.equal(stripReplyFallbackHtml("<mx-reply><blockquote>a</mx-reply>b"), "b");
    assert.equal(stripReplyFallbackHtml(""), "");
  });
});

describe("finding 9: markdown rendering is bounded", () => {
  test("over the cap, or too deep, the text goes out as plain text instead of failing", () => {
    for (const s of ["[".repeat(60_000), "a_".repeat(30_000), ">".repeat(60_000), "**a**".repeat(MARKDOWN_MAX_LENGTH)]) {
      assert.deepEqual(renderMarkdown(s), { body: s, html: undefined });
    }
    const deep = "> ".repeat(40) + "**quoted**";
    assert.deepEqual(renderMarkdown(deep), { body: deep, html: undefined });
  });

  test("ordinary markdown under the cap still renders", () => {
    assert.equal(renderMarkdown("> > **hi**").html, "<blockquote>\n<blockquote>\n<p><strong>hi</strong></p>\n</blockquote>\n</blockquote>".replace(/>\n+(?=<)/g, ">"));
    assert.equal(renderMarkdown("**a** ".repeat(200)).html?.startsWith("<strong>a</strong> <strong>a</strong>"), true);
  });

  test("markdown pills still become their text in the body", () => {
    assert.equal(renderMarkdown("hi [Al\\]ice](https://matrix.to/#/@a:x.org)!").body, "hi Al]ice!");
    assert.equal(renderMarkdown(`hi <a href='https://matrix.to/#/@a:x.org'>Al &amp; Bo</a>`).body, "hi Al & Bo");
  });
});

describe("finding 16: the console log escapes control characters", () => {
  test("user text cannot forge a log line or reach the terminal raw", () => {
    const lines: string[] = [];
    const log = consoleLogger("info", { write: (line: string) => void lines.push(line) });
    log.info({ sender: "@a:x.org\u001b]0;title\u0007", body: "a\nb", k: 1 }, "got hi\n12:00:00 ERROR forged\u001b[2J\r\u009b31m");
    log.warn({ err: Object.assign(new Error("bad\n12:00:00 INFO  forged"), { stack: "Error: bad\n12:00:00 INFO  forged\n    at x" }) }, "boom");
    const [first, second] = lines;
    assert.equal(lines.length, 2);
    // eslint-disable-next-line no-control-regex -- looking for control characters is the test
    assert.doesNotMatch(first ?? "", /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]|\n(?!$)/);
    assert.match(first ?? "", /got hi\\n12:00:00 ERROR forged\\u001b\[2J\\r\\u009b31m sender=@a:x\.org\\u001b\]0;title\\u0007 body="a\\nb" k=1\n$/);
    // A stack keeps its lines, but none starts at the left margin where a log line would.
    assert.deepEqual(second?.split("\n").slice(1, -1), ["  Error: bad", "  12:00:00 INFO  forged", "      at x"]);
  });
});

describe("finding 17: neutralizeMentions", () => {
  test("one pass catches an @room right after another mention", () => {
    const j = WORD_JOINER;
    assert.equal(neutralizeMentions("@a@room"), `@${j}a${j}@${j}r${j}oom`);
    assert.equal(neutralizeMentions("@a@b@room"), `@${j}a${j}@${j}b${j}@${j}r${j}oom`);
    // Legacy push rules match "@room" when no word character precedes it.
    for (const s of ["@a@room", "@a@b@room", "x @é́@room", "@@room"]) {
      assert.doesNotMatch(neutralizeMentions(s), /(?:^|[^A-Za-z0-9_])@room/, s);
      assert.equal(neutralizeMentions(neutralizeMentions(s)), neutralizeMentions(s), `idempotent on ${s}`);
    }
    // Still not a mention: glued to a word, as in an e-mail address.
    assert.equal(neutralizeMentions("mail bob@room.org"), "mail bob@room.org");
  });
});
