import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { htmlToPlainText } from "../../src/content/plaintext.js";

describe("htmlToPlainText", () => {
  const cases: [string, string, string][] = [
    ["inline formatting disappears", "<p>Hi <b>there</b> &amp; <i>you</i></p>", "Hi there & you"],
    ["paragraphs and breaks", "<p>a<br>b</p>\n<p>c</p>", "a\nb\n\nc"],
    ["whitespace collapses outside pre", "<p>a\n   b</p>", "a b"],
    ["pre keeps whitespace", "<p>x</p><pre><code>  a\n\n  b\n</code></pre><p>y</p>", "x\n\n  a\n\n  b\n\ny"],
    ["unordered and nested lists", "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>", "- a\n  - b\n- c"],
    ["ordered list with start", '<ol start="3"><li>c</li><li>d</li></ol>', "3. c\n4. d"],
    ["loose list items keep their spacing", "<ol><li><p>a</p></li><li><p>b</p></li></ol>", "1. a\n\n2. b"],
    ["blockquote", "<blockquote><p>q1</p><p>q2</p></blockquote><p>after</p>", "> q1\n>\n> q2\n\nafter"],
    ["table as tab-separated rows", "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>", "a\tb\n1\t2"],
    ["links show their target", '<a href="https://e.example/x">docs</a>', "docs (https://e.example/x)"],
    ["bare links are not doubled", '<a href="https://e.example">https://e.example</a> <a href="mailto:a@e.example">a@e.example</a>', "https://e.example a@e.example"],
    ["pills become their text", '<a href="https://matrix.to/#/@alice:example.org">Alice</a>: hi', "Alice: hi"],
    ["spoilers are hidden", 'Alice <span data-mx-spoiler="plot">lived <b>happily</b></span> and <span data-mx-spoiler>x</span>.', "Alice [Spoiler for plot] and [Spoiler]."],
    ["images become alt text", '<img src="mxc://e.example/a" alt="cat">', "cat"],
    ["unsafe content contributes nothing", "<script>alert(1)</script><style>x</style>ok", "ok"],
    ["horizontal rule", "<p>a</p><hr><p>b</p>", "a\n\n---\n\nb"],
  ];
  for (const [name, html, text] of cases) {
    it(name, () => assert.equal(htmlToPlainText(html), text));
  }
});
