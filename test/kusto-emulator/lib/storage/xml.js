'use strict';
// Is a request body well-formed XML, as Azure Storage requires of a Put Block
// List or a queue message body? Azure Storage answers anything else with 400
// and the error code InvalidXmlDocument, "XML specified is not syntactically
// valid." (Azure Storage's common REST API error codes,
// learn.microsoft.com/rest/api/storageservices/common-rest-api-error-codes;
// BlobErrorCode.InvalidXmlDocument in the .NET SDK). Azurite is laxer (it
// takes a trailing NUL byte, for one), so the emulator's storage proxies check
// first. Enough XML 1.0 for these bodies: a declaration, one root element,
// nested elements with attributes, text, character and entity references,
// comments, CDATA; no DTD.

const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*$/;

/** null when `buf` is well-formed XML, else why not. */
function xmlProblem(buf) {
  let s = Buffer.isBuffer(buf) ? buf.toString('utf8') : String(buf);
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  // XML 1.0 Char: no NUL or other C0 control but tab, LF, CR
  const bad = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.exec(s);
  if (bad) return `character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')} at offset ${bad.index}`;
  let i = 0;
  if (s.startsWith('<?xml')) {
    const end = s.indexOf('?>');
    if (end < 0) return 'unterminated XML declaration';
    i = end + 2;
  }
  const stack = [];
  let rootSeen = false;
  while (i < s.length) {
    if (s[i] !== '<') {
      const next = s.indexOf('<', i);
      const text = s.slice(i, next < 0 ? s.length : next);
      if (stack.length === 0 && text.trim() !== '') return `text outside the root element at offset ${i}`;
      const amp = /&(?![A-Za-z_][-A-Za-z0-9_.]*;|#[0-9]+;|#x[0-9A-Fa-f]+;)/.exec(text);
      if (amp) return `a bare & at offset ${i + amp.index}`;
      if (text.includes(']]>')) return `]]> in text at offset ${i}`;
      i = next < 0 ? s.length : next;
      continue;
    }
    if (s.startsWith('<!--', i)) {
      const end = s.indexOf('-->', i + 4);
      if (end < 0) return 'unterminated comment';
      i = end + 3;
      continue;
    }
    if (s.startsWith('<![CDATA[', i)) {
      if (stack.length === 0) return 'CDATA outside the root element';
      const end = s.indexOf(']]>', i);
      if (end < 0) return 'unterminated CDATA section';
      i = end + 3;
      continue;
    }
    if (s.startsWith('<?', i)) {
      const end = s.indexOf('?>', i);
      if (end < 0) return 'unterminated processing instruction';
      i = end + 2;
      continue;
    }
    if (s.startsWith('<!', i)) return `a DTD or declaration at offset ${i}`;
    const end = s.indexOf('>', i);
    if (end < 0) return `unterminated tag at offset ${i}`;
    let tag = s.slice(i + 1, end);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      if (stack.pop() !== name) return `</${name}> does not close the open element at offset ${i}`;
    } else {
      const empty = tag.endsWith('/');
      if (empty) tag = tag.slice(0, -1);
      const m = /^([^\s]+)((?:\s+[^\s=]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*$/.exec(tag);
      if (!m || !NAME.test(m[1])) return `a malformed tag at offset ${i}`;
      if (stack.length === 0) {
        if (rootSeen) return `a second root element at offset ${i}`;
        rootSeen = true;
      }
      if (!empty) stack.push(m[1]);
    }
    i = end + 1;
  }
  if (!rootSeen) return 'no root element';
  if (stack.length) return `<${stack[stack.length - 1]}> is not closed`;
  return null;
}

module.exports = { xmlProblem };
