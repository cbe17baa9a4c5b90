// Tests for html-text.ts: the text/plain alternative derived from HTML.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEntities, htmlToText } from './html-text.ts';

describe('htmlToText', () => {
  it('writes links as "text (url)"', () => {
    assert.equal(htmlToText('<p>Bitte <a href="https://mana.how/v?t=1&amp;x=2">bestätigen</a>.</p>'), 'Bitte bestätigen (https://mana.how/v?t=1&x=2).');
  });

  it('writes a link whose text is its URL once', () => {
    assert.equal(htmlToText('<a href="https://mana.how/x">https://mana.how/x</a>'), 'https://mana.how/x');
    assert.equal(htmlToText('<a href="mailto:help@mana.how">help@mana.how</a>'), 'help@mana.how');
  });

  it('writes the URL of a link without text, and drops in-page anchors', () => {
    assert.equal(htmlToText('Go: <a href="https://x.y/"></a> <a href="#top">top</a>'), 'Go: https://x.y/ top');
  });

  it('separates paragraphs and headings by a blank line, <br> by a line break', () => {
    assert.equal(htmlToText('<h1>Title</h1><p>One<br>Two</p><p>Three</p><div>Four</div><div>Five</div>'), 'Title\n\nOne\nTwo\n\nThree\n\nFour\nFive');
  });

  it('collapses source whitespace like a browser', () => {
    assert.equal(htmlToText('<p>\n   Hallo   <strong>Ada</strong> ,\n  wie   geht\'s?\n</p>'), "Hallo Ada , wie geht's?");
  });

  it('decodes named, decimal and hexadecimal character references', () => {
    assert.equal(htmlToText('<p>&Uuml;ber &amp; &lt;tag&gt; &quot;q&quot; &#228;&#xFC; &#x1F600; &mdash; &unknown; a&nbsp;b</p>'), 'Über & <tag> "q" äü 😀 — &unknown; a b');
  });

  it('drops head, title, scripts, styles and comments', () => {
    const html = '<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style></head><body><!-- hidden --><script>alert(1)</script><p>Visible</p><script>unclosed';
    assert.equal(htmlToText(html), 'Visible');
  });

  it('writes list items as "- item" and "1. item"', () => {
    assert.equal(htmlToText('<p>Steps:</p><ol><li>One</li><li>Two</li></ol><ul><li>A</li><li>B</li></ul>'), 'Steps:\n\n1. One\n2. Two\n\n- A\n- B');
  });

  it('puts table rows on lines and cells side by side', () => {
    assert.equal(htmlToText('<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>'), 'a b\nc d');
  });

  it('keeps image alt text and preformatted whitespace', () => {
    assert.equal(htmlToText('<p><img src="x.png" alt="Mana logo"> Hi</p><pre>  a\n    b</pre>'), 'Mana logo Hi\n\n  a\n    b');
  });

  it('keeps text that only looks like markup', () => {
    assert.equal(htmlToText('1 < 2 and 3 > 2 <3'), '1 < 2 and 3 > 2 <3');
  });

  it('returns plain text unchanged and empty input as empty', () => {
    assert.equal(htmlToText('Just text.'), 'Just text.');
    assert.equal(htmlToText(''), '');
  });

  it('survives broken HTML without losing the text', () => {
    assert.equal(htmlToText('<p>open <b>bold <a href="https://x.y">link'), 'open bold link');
    assert.equal(htmlToText('</p></div>text<p'), 'text<p');
  });
});

describe('decodeEntities', () => {
  it('turns invalid numeric references into U+FFFD (HTML §13.2.5.80)', () => {
    assert.equal(decodeEntities('&#0;&#xD800;&#x110000;'), '\ufffd\ufffd\ufffd');
  });

  it('does not look up inherited names', () => {
    assert.equal(decodeEntities('&constructor; &toString;'), '&constructor; &toString;');
  });
});
