import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isPlainText, renderMarkdown, renderWithMarked } from "../../src/content/markdown.js";
import { mentionPill } from "../../src/content/mentions.js";

describe("renderMarkdown: plain text has no HTML", () => {
  for (const text of [
    "hello",
    "",
    "a < b & c > d, \"quoted\" and 'single'",
    "two\nlines",
    "first paragraph\n\nsecond paragraph",
    "  padded  ",
    "100% sure: 2 * 3 = 6",
    "snake_case_identifier",
  ]) {
    it(JSON.stringify(text), () => {
      assert.deepEqual(renderMarkdown(text), { body: text, html: undefined });
    });
  }
});

describe("renderMarkdown: formatting", () => {
  it("emphasis, without a wrapping <p>", () => {
    assert.deepEqual(renderMarkdown("**bold** and *it*"), {
      body: "**bold** and *it*",
      html: "<strong>bold</strong> and <em>it</em>",
    });
  });

  it("single newlines become <br> (bot output is line-oriented)", () => {
    assert.equal(renderMarkdown("**a**\nb\nc").html, "<strong>a</strong><br />b<br />c");
  });

  it("blank lines separate paragraphs", () => {
    assert.equal(renderMarkdown("**a**\n\nb").html, "<p><strong>a</strong></p><p>b</p>");
  });

  it("GFM tables (alignment attributes are not in the spec subset)", () => {
    const md = "| name | n |\n|:-----|--:|\n| a | 1 |\n| b | 2 |";
    assert.equal(
      renderMarkdown(md).html,
      "<table><thead><tr><th>name</th><th>n</th></tr></thead>" +
        "<tbody><tr><td>a</td><td>1</td></tr><tr><td>b</td><td>2</td></tr></tbody></table>",
    );
  });

  it("GFM strikethrough", () => {
    assert.equal(renderMarkdown("~~gone~~ here").html, "<del>gone</del> here");
  });

  it("fenced code keeps its language class and escapes content", () => {
    assert.equal(
      renderMarkdown("```ts\nconst a = 1 < 2 && b;\n```").html,
      '<pre><code class="language-ts">const a = 1 &lt; 2 &amp;&amp; b;\n</code></pre>',
    );
  });

  it("code without a language has no class; whitespace inside <pre> is kept", () => {
    assert.equal(renderMarkdown("```\n a\n\n  b\n```").html, "<pre><code> a\n\n  b\n</code></pre>");
  });

  it("inline code", () => {
    assert.equal(renderMarkdown("run `rm <x>`").html, "run <code>rm &lt;x&gt;</code>");
  });

  it("links and autolinks", () => {
    assert.equal(renderMarkdown("[docs](https://example.org/a?b=1&c=2)").html, '<a href="https://example.org/a?b=1&amp;c=2">docs</a>');
    assert.equal(renderMarkdown("see https://example.org").html, 'see <a href="https://example.org">https://example.org</a>');
  });

  it("javascript: links lose their href", () => {
    assert.equal(renderMarkdown("[x](javascript:alert(1))").html, "x");
    assert.equal(renderMarkdown("<a href=\"JaVaScRiPt:alert(1)\">x</a>").html, "x");
  });

  it("ordered lists keep their start number", () => {
    assert.equal(renderMarkdown("3. c\n4. d").html, '<ol start="3"><li>c</li><li>d</li></ol>');
  });

  it("task lists render their state as text", () => {
    assert.equal(renderMarkdown("- [x] done\n- [ ] todo").html, "<ul><li>☑ done</li><li>☐ todo</li></ul>");
  });

  it("headings and blockquotes", () => {
    assert.equal(renderMarkdown("# Title\n\n> quoted").html, "<h1>Title</h1><blockquote><p>quoted</p></blockquote>");
  });

  it("images only with mxc sources", () => {
    assert.equal(renderMarkdown("![cat](mxc://example.org/abc)").html, '<img src="mxc://example.org/abc" alt="cat" />');
    assert.equal(renderMarkdown("![cat](https://example.org/cat.png)").html, "<span>cat</span>");
  });
});

describe("renderMarkdown: raw HTML", () => {
  it("spec-allowed tags are kept, with their attributes sanitised", () => {
    assert.equal(renderMarkdown('<b onclick="alert(1)">x</b> <i style="x">y</i>').html, "<b>x</b> <i>y</i>");
    assert.equal(renderMarkdown('<a href="JaVaScRiPt:alert(1)">x</a> <a href="https://e.example">ok</a>').html, 'x <a href="https://e.example">ok</a>');
    assert.equal(renderMarkdown('<img src=x onerror=alert(1)> <img src="mxc://e.example/a">').html, '<img src="mxc://e.example/a" />');
  });

  it("other tags are shown as typed (bot usage strings survive)", () => {
    assert.deepEqual(renderMarkdown("usage: !ban <user> [reason]"), { body: "usage: !ban <user> [reason]", html: undefined });
    assert.equal(renderMarkdown("**usage:** !rename <title>").html, "<strong>usage:</strong> !rename &lt;title&gt;");
  });

  it("script is never live: inline or as a block it is inert text", () => {
    assert.deepEqual(renderMarkdown("hi <script>alert(1)</script>"), { body: "hi <script>alert(1)</script>", html: undefined });
    assert.deepEqual(renderMarkdown("<script>\nalert(1)\n</script>"), { body: "<script>\nalert(1)\n</script>", html: undefined });
    const { html } = renderMarkdown("**x** <script>alert(1)</script><style>*{}</style><iframe src=https://e.example></iframe>");
    assert.equal(html, "<strong>x</strong> &lt;script&gt;alert(1)&lt;/script&gt;&lt;style&gt;*{}&lt;/style&gt;&lt;iframe src=https://e.example&gt;&lt;/iframe&gt;");
  });

  it("HTML blocks mixing allowed and foreign tags", () => {
    assert.equal(renderMarkdown("<div>\n<user> & <b onclick=x>b</b>\n</div>").html, "<div>\n&lt;user&gt; &amp; <b>b</b></div>");
  });

  it("comments are dropped", () => {
    assert.equal(renderMarkdown("**a** <!-- hidden --> b").html, "<strong>a</strong>  b");
  });
});

describe("renderMarkdown: body", () => {
  it("is the markdown source, with CRLF normalised", () => {
    assert.equal(renderMarkdown("**a**\r\nb").body, "**a**\nb");
  });

  it("shows pills as their display text", () => {
    const pill = mentionPill("@alice:example.org", "Alice & co");
    assert.deepEqual(renderMarkdown(`hi ${pill.html}!`), {
      body: "hi Alice & co!",
      html: 'hi <a href="https://matrix.to/#/@alice:example.org">Alice &amp; co</a>!',
    });
    assert.equal(renderMarkdown("hi [Bob](https://matrix.to/#/@bob:example.org)").body, "hi Bob");
  });

  it("leaves ordinary links alone", () => {
    assert.equal(renderMarkdown("[docs](https://example.org)").body, "[docs](https://example.org)");
  });
});

describe("renderMarkdown: fuzzed input", () => {
  it("never produces handlers, unsafe links, non-mxc images or script", async () => {
    const fc = (await import("fast-check")).default;
    const { walkHtml } = await import("../../src/content/sanitize.js");
    const pieces = [
      "**", "_", "`", "```js\n", "\n", "\n\n", "[x](", "javascript:alert(1)", ")", "![i](", "http://t.example/p.png",
      "<script>", "</script>", "<img src=x onerror=alert(1)>", "<b onclick=x>", "</b>", "<a href=\"", "data:x", "\">",
      "</a>", "| a |\n|---|\n", "- ", "1. ", "> ", "~~", "<user>", "&", "<", "text",
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 25 }), (parts) => {
        const { html } = renderMarkdown(parts.join(""));
        if (html === undefined) return;
        walkHtml(html, {
          open(tag, attribs) {
            assert.notEqual(tag, "script");
            for (const name of Object.keys(attribs)) assert.doesNotMatch(name, /^on/i);
            if (attribs.href !== undefined) assert.match(attribs.href, /^(https?|ftp|mailto|magnet|matrix):/i);
            if (tag === "img") assert.match(attribs.src ?? "", /^mxc:\/\//);
          },
        });
      }),
      { numRuns: 1000 },
    );
  });
});

describe("renderMarkdown: the plain-text shortcut", () => {
  it("takes plain replies and leaves markdown to the renderer", () => {
    for (const text of ["pong", "Pong! 12ms", "4", "two\nlines", "first\n\nsecond", "hi @alice:example.org, 3 items (ok?)", "100% done; 2/3 left"])
      assert.equal(isPlainText(text), true, text);
    for (const text of ["**pong**", "1. one", "2) two", "- item", "# title", "> quote", "a\n---", "see https://example.org", "www.example.org", "mail a@b.org", "a & b", "x < y", "`code`", "    indented", "a\\*b", "|a|b|", "line\r\nbreak", "a\n:-", "a \n\nb", "a\tb"])
      assert.equal(isPlainText(text), false, text);
  });

  it("agrees with the renderer: whatever it takes renders to its own text, with no HTML", async () => {
    const fc = (await import("fast-check")).default;
    const alphabet = ["a", "b", "w", "W", ".", ",", "!", "?", ":", "/", "@", "#", "-", "+", "=", "(", ")", "1", "9", " ", "\t", "\n", "'", "\"", "%", "é", "😀", "*", "_", "<", "&", "\v", "\u00a0", "\u2028"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (chars) => {
        const text = chars.join("");
        if (!isPlainText(text)) return;
        assert.deepEqual(renderWithMarked(text), { body: text, html: undefined }, JSON.stringify(text));
      }),
      { numRuns: 20000 },
    );
  });
});
