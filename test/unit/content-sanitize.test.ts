import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ALLOWED_TAGS,
  escapeHtml,
  safeLinkHref,
  sanitizeHtml,
  walkHtml,
} from "../../src/content/sanitize.js";
import { decodeHtmlEntities } from "../../src/ids/entities.js";

const PERMITTED: Record<string, string[]> = {
  a: ["href", "target"],
  img: ["src", "width", "height", "alt", "title"],
  ol: ["start"],
  code: ["class"],
  span: ["data-mx-bg-color", "data-mx-color", "data-mx-spoiler", "data-mx-maths"],
  div: ["data-mx-maths"],
};

/**
 * Parses the output and checks its structure: only allowed tags, only the
 * spec's attributes, only safe link schemes, only mxc images. (Text such as
 * "onerror=x" is harmless and must not count.)
 */
function assertInert(out: string): void {
  walkHtml(out, {
    open(tag, attribs) {
      assert.ok(ALLOWED_TAGS.includes(tag), `tag <${tag}> in ${out}`);
      for (const name of Object.keys(attribs)) {
        assert.ok(PERMITTED[tag]?.includes(name), `attribute ${name} on <${tag}> in ${out}`);
      }
      if (attribs.href !== undefined) assert.match(attribs.href, /^(https?|ftp|mailto|magnet|matrix):/i, out);
      if (tag === "img") assert.match(attribs.src ?? "", /^mxc:\/\//, out);
    },
  });
  assert.doesNotMatch(out, /<(script|style|iframe|svg|object)/i, out);
}

describe("sanitizeHtml: hostile input", () => {
  const vectors: [string, string][] = [
    ["script tag", "<script>alert(1)</script>ok"],
    ["script in unknown tag", "<foo><script>alert(1)</script></foo>ok"],
    ["unclosed script", "ok<script>alert(1)"],
    ["split script", "<<script>script>alert(1)<</script>/script>"],
    ["style", "<style>body{display:none}</style>ok"],
    ["iframe", '<iframe src="https://evil.example">x</iframe>ok'],
    ["svg onload", '<svg onload="alert(1)"><script>alert(1)</script></svg>ok'],
    ["img onerror", '<img src="x" onerror="alert(1)">'],
    ["img onerror with mxc", '<img src="mxc://example.org/abc" onerror="alert(1)">'],
    ["onclick", '<b onclick="alert(1)">x</b>'],
    ["onmouseover uppercase", '<p ONMOUSEOVER="alert(1)">x</p>'],
    ["javascript href", '<a href="javascript:alert(1)">x</a>'],
    ["mixed case javascript", '<a href="JaVaScRiPt:alert(1)">x</a>'],
    ["decimal entity javascript", '<a href="&#106;&#97;vascript:alert(1)">x</a>'],
    ["hex entity javascript", '<a href="&#x6A;avascript:alert(1)">x</a>'],
    ["entity without semicolon", '<a href="&#106avascript:alert(1)">x</a>'],
    ["tab inside scheme", '<a href="java&#x09;script:alert(1)">x</a>'],
    ["newline inside scheme", '<a href="java\nscript:alert(1)">x</a>'],
    ["leading space and control", '<a href=" \u0001javascript:alert(1)">x</a>'],
    ["named colon entity", '<a href="javascript&colon;alert(1)">x</a>'],
    ["data link", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>'],
    ["vbscript link", '<a href="vbscript:msgbox(1)">x</a>'],
    ["img http", '<img src="http://tracker.example/p.png">'],
    ["img https", '<img src="https://tracker.example/p.png">'],
    ["img data", '<img src="data:image/png;base64,AAAA">'],
    ["img protocol-relative", '<img src="//tracker.example/p.png">'],
    ["style attribute", '<span style="background:url(javascript:alert(1))">x</span>'],
    ["mx-reply fallback", "<mx-reply><blockquote><script>alert(1)</script></blockquote></mx-reply>ok"],
    ["entity-escaped script stays text", "&lt;script&gt;alert(1)&lt;/script&gt;"],
  ];
  it("(the checker itself rejects unsafe markup)", () => {
    for (const bad of ['<img src="http://x">', '<a href="javascript:x">x</a>', '<b onclick="x">x</b>', "<script></script>"]) {
      assert.throws(() => assertInert(bad));
    }
  });

  for (const [name, input] of vectors) {
    it(name, () => assertInert(sanitizeHtml(input)));
  }

  it("keeps the text of unwrapped links and unknown tags", () => {
    assert.equal(sanitizeHtml('<a href="javascript:alert(1)">click</a> <foo>bar</foo>'), "click bar");
  });

  it("drops script, style, iframe and mx-reply contents entirely", () => {
    assert.equal(sanitizeHtml("<script>a</script><style>b</style><iframe>c</iframe><mx-reply>d</mx-reply>ok"), "ok");
  });

  it("keeps escaped text escaped", () => {
    assert.equal(sanitizeHtml("&lt;script&gt;"), "&lt;script&gt;");
  });

  it("refuses relative and protocol-relative links", () => {
    assert.equal(sanitizeHtml('<a href="/x">a</a><a href="//evil.example">b</a><a href="x.html">c</a>'), "abc");
  });

  it("replaces non-mxc images by their alt text", () => {
    assert.equal(sanitizeHtml('<p><img src="http://x/y.png" alt="a cat"> after <b>b</b></p>'), "<p><span>a cat</span> after <b>b</b></p>");
  });

  it("does not corrupt following markup after removing tags", () => {
    assert.equal(sanitizeHtml('<p><a href="javascript:x">x</a><b>b</b> c</p><i>i</i>'), "<p>x<b>b</b> c</p><i>i</i>");
  });

  it("caps nesting at 100 levels", () => {
    const deep = "<b>".repeat(150) + "x" + "</b>".repeat(150);
    const out = sanitizeHtml(deep);
    assert.equal(out.match(/<b>/g)?.length, 100);
    assert.match(out, /x/);
  });
});

describe("sanitizeHtml: what the spec allows survives", () => {
  // [tag, sample] — every tag of the spec's list, with its permitted attributes.
  const samples: Record<string, string> = {
    a: '<a href="https://example.org/" target="_blank">x</a>',
    img: '<img src="mxc://example.org/AbC_-1" width="16" height="16" alt="alt" title="t" />',
    ol: '<ol start="3"><li>x</li></ol>',
    li: "<ul><li>x</li></ul>",
    code: '<code class="language-typescript">x</code>',
    span: '<span data-mx-color="#FFFFFF" data-mx-bg-color="#000000" data-mx-spoiler="why" data-mx-maths="x^2">x</span>',
    div: '<div data-mx-maths="\\frac{a}{b}">x</div>',
    br: "a<br />b",
    hr: "a<hr />b",
    table: "<table><caption>c</caption><thead><tr><th>h</th></tr></thead><tbody><tr><td>d</td></tr></tbody></table>",
    details: "<details><summary>s</summary>x</details>",
  };
  const inTable = new Set(["thead", "tbody", "tr", "th", "td", "caption"]);
  const sampleFor = (tag: string): string =>
    samples[tag] ??
    (inTable.has(tag) ? samples.table : tag === "summary" ? samples.details : undefined) ??
    `<${tag}>x</${tag}>`;

  for (const tag of ALLOWED_TAGS) {
    it(`<${tag}> with its permitted attributes`, () => {
      const sample = sampleFor(tag);
      assert.match(sample, new RegExp(`<${tag}[ >/]`));
      assert.equal(sanitizeHtml(sample), sample);
    });
  }

  it("valueless spoiler attribute", () => {
    assert.equal(sanitizeHtml("<span data-mx-spoiler>x</span>"), "<span data-mx-spoiler>x</span>");
  });

  it("every allowed link scheme", () => {
    for (const href of ["https://a.example", "http://a.example", "ftp://a.example", "mailto:a@b.example", "magnet:?xt=urn:x", "https://matrix.to/#/@a:b.example", "matrix:u/a:b.example"]) {
      assert.equal(sanitizeHtml(`<a href="${href}">x</a>`), `<a href="${href}">x</a>`);
    }
  });
});

describe("sanitizeHtml: attribute filtering", () => {
  it("strips attributes not in the spec table", () => {
    assert.equal(sanitizeHtml('<p class="x" id="y" title="z">t</p>'), "<p>t</p>");
    assert.equal(sanitizeHtml('<a href="https://e.example" rel="x" title="t">t</a>'), '<a href="https://e.example">t</a>');
  });

  it("keeps only valid #rrggbb colours", () => {
    assert.equal(sanitizeHtml('<span data-mx-color="red" data-mx-bg-color="#12345">x</span>'), "<span>x</span>");
    assert.equal(sanitizeHtml('<span data-mx-color="#ff00aa;x:y">x</span>'), "<span>x</span>");
  });

  it("rewrites deprecated <font> to <span>", () => {
    assert.equal(sanitizeHtml('<font color="#00ff00" data-mx-bg-color="#000000" size="7">f</font>'), '<span data-mx-color="#00ff00" data-mx-bg-color="#000000">f</span>');
  });

  it("only language-* classes on code, none elsewhere", () => {
    assert.equal(sanitizeHtml('<code class="language-js hljs evil">x</code>'), '<code class="language-js">x</code>');
    assert.equal(sanitizeHtml('<code class="evil">x</code>'), "<code>x</code>");
    assert.equal(sanitizeHtml('<pre class="language-js">x</pre>'), "<pre>x</pre>");
  });

  it("ol start must be an integer", () => {
    assert.equal(sanitizeHtml('<ol start="x"><li>a</li></ol>'), "<ol><li>a</li></ol>");
    assert.equal(sanitizeHtml('<ol start="0" type="i"><li>a</li></ol>'), '<ol start="0"><li>a</li></ol>');
  });

  it("img dimensions must be numbers", () => {
    assert.equal(sanitizeHtml('<img src="mxc://e.example/a" width="100%" height="9999999" />'), '<img src="mxc://e.example/a" />');
  });
});

describe("escapeHtml / decodeHtmlEntities / safeLinkHref", () => {
  it("escapes the five special characters", () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });
  it("round-trips", () => {
    const text = `<>&"' plain ünïcödé 👍`;
    assert.equal(decodeHtmlEntities(escapeHtml(text)), text);
  });
  it("judges schemes like a browser would", () => {
    assert.equal(safeLinkHref("  https://e.example/a\tb "), "https://e.example/ab");
    assert.equal(safeLinkHref("HTTPS://E.EXAMPLE"), "HTTPS://E.EXAMPLE");
    assert.equal(safeLinkHref("java\tscript:alert(1)"), undefined);
    assert.equal(safeLinkHref("data:text/html,x"), undefined);
    assert.equal(safeLinkHref("/relative"), undefined);
  });
});

describe("sanitizeHtml: fuzzed combinations", () => {
  it("never lets handlers, script links or non-mxc images through", async () => {
    const fc = (await import("fast-check")).default;
    const fragments = [
      "<a href=\"", "javascript:", "JaVaScRiPt:", "&#106;avascript:", "data:", "https://ok.example", "\">", "</a>",
      "<img src=", "http://x", "mxc://e.example/a", " onerror=alert(1)", " onclick=\"x\"", ">", "<script>", "</script>",
      "<svg>", "<b", "<p ", "style=\"x\"", "'", "\"", "<", "&", "&#x09;", "\n", "text", "<!--", "-->", "<![CDATA[",
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...fragments), { maxLength: 30 }), (parts) => {
        assertInert(sanitizeHtml(parts.join("")));
      }),
      { numRuns: 2000 },
    );
  });
});
