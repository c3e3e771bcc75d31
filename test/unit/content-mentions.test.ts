import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  WORD_JOINER as WJ,
  detectMentions,
  mentionPill,
  neutralizeMentions,
  neutralizeMentionsHtml,
} from "../../src/content/mentions.js";
import { isUserId, userIdFromPermalink, userPermalink } from "../../src/ids/index.js";

/**
 * The legacy body push rules (`.m.rule.roomnotif`, `.m.rule.contains_user_name`)
 * as the spec defines `event_match` on `content.body`: case-insensitive,
 * whole-word, word characters `[A-Za-z0-9_]`.
 */
function legacyBodyMatch(body: string, pattern: string): boolean {
  const escaped = pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(?:^|[^A-Za-z0-9_])${escaped}(?:$|[^A-Za-z0-9_])`, "i").test(body);
}

describe("detectMentions", () => {
  it("finds pills in HTML, in either permalink form", () => {
    const html =
      '<a href="https://matrix.to/#/@alice:example.org">Alice</a>, ' +
      '<a href="https://matrix.to/#/%40bob%3Aexample.org">Bob</a>, ' +
      '<a href="matrix:u/carol:example.org?action=chat">Carol</a>';
    assert.deepEqual(detectMentions("Alice, Bob, Carol", html), ["@alice:example.org", "@bob:example.org", "@carol:example.org"]);
  });

  it("ignores room, alias and event permalinks", () => {
    const html = '<a href="https://matrix.to/#/#room:example.org">r</a><a href="https://matrix.to/#/!r:example.org/$e">e</a>';
    assert.deepEqual(detectMentions("r e", html), []);
  });

  it("finds bare user IDs in plain text, without trailing punctuation", () => {
    assert.deepEqual(detectMentions("cc @alice:example.org, @bob.b:matrix.example.com:8448."), [
      "@alice:example.org",
      "@bob.b:matrix.example.com:8448",
    ]);
  });

  it("finds bare IDs in HTML text but not inside code", () => {
    const html = "ping @alice:example.org <code>@bob:example.org</code><pre>@carol:example.org</pre>";
    assert.deepEqual(detectMentions("(ignored)", html), ["@alice:example.org"]);
  });

  it("deduplicates, keeping first-appearance order", () => {
    assert.deepEqual(detectMentions("@b:x.org @a:x.org @b:x.org"), ["@b:x.org", "@a:x.org"]);
  });

  it("does not take e-mail addresses or @room", () => {
    assert.deepEqual(detectMentions("mail bob@example.org now, @room"), []);
  });

  it("finds nothing in neutralised text", () => {
    const text = "@alice:example.org and @bob:example.org";
    assert.deepEqual(detectMentions(neutralizeMentions(text)), []);
    const html = neutralizeMentionsHtml('<a href="https://matrix.to/#/@alice:example.org">Alice</a> @bob:example.org');
    assert.deepEqual(detectMentions("", html), []);
  });
});

describe("neutralizeMentions", () => {
  it("breaks @room", () => {
    const out = neutralizeMentions("attention @room!");
    assert.equal(out, `attention @${WJ}r${WJ}oom!`);
    assert.equal(legacyBodyMatch(out, "@room"), false);
    assert.equal(legacyBodyMatch(neutralizeMentions("@ROOM"), "@room"), false);
  });

  it("breaks user IDs for both the localpart rule and ID detection", () => {
    const out = neutralizeMentions("hi @alice:example.org");
    assert.equal(out, `hi @${WJ}a${WJ}lice:example.org`);
    assert.equal(legacyBodyMatch(out, "alice"), false);
    // Only a joiner after "@" would not be enough for the localpart rule:
    assert.equal(legacyBodyMatch(`@${WJ}alice:example.org`, "alice"), true);
  });

  it("looks identical once the invisible joiners are removed", () => {
    const text = "@room @alice:example.org @Bob and @élodie";
    assert.equal(neutralizeMentions(text).replaceAll(WJ, ""), text);
  });

  it("keeps combining marks with their base character", () => {
    assert.equal(neutralizeMentions("@e\u0301lodie"), `@${WJ}e\u0301${WJ}lodie`);
  });

  it("leaves e-mail addresses alone", () => {
    assert.equal(neutralizeMentions("bob@example.org"), "bob@example.org");
  });

  it("is idempotent", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const once = neutralizeMentions(s);
        assert.equal(neutralizeMentions(once), once);
        assert.equal(once.replaceAll(WJ, ""), s.replaceAll(WJ, ""));
      }),
    );
  });

  it("defeats @room for any surrounding text", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        assert.equal(legacyBodyMatch(neutralizeMentions(`${a} @room ${b}`), "@room"), false);
      }),
    );
  });
});

describe("neutralizeMentionsHtml", () => {
  it("unwraps user pills and neutralises text", () => {
    assert.equal(
      neutralizeMentionsHtml('<b>@room</b> <a href="https://matrix.to/#/@bob:example.org">Bob</a> <a href="https://example.org">site</a>'),
      `<b>@${WJ}r${WJ}oom</b> Bob <a href="https://example.org">site</a>`,
    );
  });

  it("neutralises @-names inside pill text", () => {
    assert.equal(neutralizeMentionsHtml('<a href="https://matrix.to/#/@bob:example.org">@bob</a>'), `@${WJ}b${WJ}ob`);
  });

  it("also sanitises", () => {
    assert.equal(neutralizeMentionsHtml("<script>@room</script><i onclick=x>ok</i>"), "<i>ok</i>");
  });

  it("keeps escaping intact", () => {
    assert.equal(neutralizeMentionsHtml("&lt;@room&gt; &amp;"), `&lt;@${WJ}r${WJ}oom&gt; &amp;`);
  });
});

describe("mentionPill", () => {
  it("uses the display name and escapes it", () => {
    assert.deepEqual(mentionPill("@alice:example.org", `<img src=x onerror=alert(1)> "A"`), {
      text: `<img src=x onerror=alert(1)> "A"`,
      html: '<a href="https://matrix.to/#/@alice:example.org">&lt;img src=x onerror=alert(1)&gt; &quot;A&quot;</a>',
    });
  });

  it("falls back to the user ID", () => {
    assert.deepEqual(mentionPill("@alice:example.org"), {
      text: "@alice:example.org",
      html: '<a href="https://matrix.to/#/@alice:example.org">@alice:example.org</a>',
    });
    assert.equal(mentionPill("@alice:example.org", "  ").text, "@alice:example.org");
  });

  it("percent-encodes characters that would break the permalink", () => {
    assert.equal(userPermalink("@a/b+c=d:example.org"), "https://matrix.to/#/@a%2Fb%2Bc%3Dd:example.org");
    assert.equal(userIdFromPermalink(userPermalink("@a/b+c=d:example.org")), "@a/b+c=d:example.org");
  });

  it("rejects things that are not user IDs", () => {
    assert.throws(() => mentionPill("alice"), RangeError);
    assert.throws(() => mentionPill("#room:example.org"), RangeError);
  });

  it("round-trips through detection", () => {
    const pill = mentionPill("@alice:example.org", "Alice");
    assert.deepEqual(detectMentions(pill.text, pill.html), ["@alice:example.org"]);
  });
});

describe("user IDs", () => {
  it("isUserId", () => {
    for (const id of ["@a:b", "@alice:example.org", "@a.b_c=d-e/f+g:[::1]:8448", "@Historical!:1.2.3.4"]) assert.ok(isUserId(id), id);
    for (const id of ["alice", "@alice", "@:x.org", "@a b:x.org", "!r:x.org", `@${"a".repeat(300)}:x.org`]) assert.ok(!isUserId(id), id);
  });
});
