/**
 * The forms of a value that are masked: the value; its JSON-escaped spellings (as
 * `JSON.stringify`, Python, PHP, Go and .NET write them) and URL-encoded ones (as
 * `encodeURIComponent`, RFC 3986 encoders and HTML forms write them, also with `+` for spaces); base64 and base64url of its UTF-8 bytes, padded and not; the same for
 * the value trimmed of surrounding whitespace; each line of a multi-line value (trimmed). Forms
 * shorter than MIN_MASK_LENGTH are not masked.
 *
 * Base64 inside a longer text: when the value's bytes are encoded as part of something larger
 * (`echo $TOK | base64` encodes the value and a newline; `printf 'x%s' $TOK | base64` shifts it by
 * one byte), its encoding depends on where its first byte falls in a 3-byte group (offset 0, 1 or
 * 2) and its edge characters mix in bits of the neighbouring bytes. So for each offset k the form
 * is the run of base64 characters whose 6 bits all come from the value: with k zero bytes before
 * it, characters ceil(8k/6) .. floor(8(k+n)/6)-1. Any base64 text containing the value contains one
 * of these runs, and what stays visible is at most the one mixed character at each edge.
 * (Base64 wrapped into lines, as `base64` does past 76 columns, is not covered.)
 *
 * Hex of the UTF-8 bytes (lower and upper case, as `xxd -p` or a debug dump prints it) is masked
 * for values up to {@link MAX_HEX_BYTES}: tokens and passwords, where a hex dump is a plausible
 * accident. Longer values (certificate bundles) skip it: every masked character costs matcher
 * memory, and a hex dump of a bundle is not an accident one guards against.
 *
 * For the same reason the spellings of the less common encoders (Python's, PHP's, Go's and .NET's
 * JSON escapes; HTML forms, `+` for a space, Go's `url.PathEscape`, lower-case percent hex) are
 * masked for values up to {@link MAX_ALL_FORMS_BYTES}. A longer value keeps its plain, JSON
 * (`JSON.stringify`), `encodeURIComponent` and RFC 3986 spellings, base64 and its lines: each
 * spelling is read in full when the value is learnt (long-forms.ts hashes it), and a bundle's
 * rarer spellings are not worth that time.
 */
export const MAX_HEX_BYTES = 4096;
export const MAX_ALL_FORMS_BYTES = 4096;

export function maskedForms(value: string, minLength: number): string[] {
  const forms = new Set<string>();
  const add = (form: string) => {
    if (form.length >= minLength) forms.add(form);
  };
  encodedForms(value, add);
  // Programs trim (`echo $TOKEN` unquoted, `.strip()`, a value read with its newline): the
  // trimmed value and its encodings are masked too.
  const trimmed = value.trim();
  if (trimmed !== value) encodedForms(trimmed, add);
  if (value.includes('\n') || value.includes('\r')) {
    for (const line of value.split(/\r?\n|\r/)) add(line.trim());
  }
  return [...forms];
}

/** `\uXXXX` of one UTF-16 code unit, in lower or upper case hex. */
const unicodeEscape =
  (upper: boolean) =>
  (c: string): string => {
    const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
    return `\\u${upper ? hex.toUpperCase() : hex}`;
  };

/**
 * A JSON string's content as the common encoders write it, which escape more than
 * `JSON.stringify`: Python's `json.dumps` every non-ASCII code unit (`\u00e4`, a surrogate pair
 * for an emoji), PHP's `json_encode` those and `/` (`\/`), Go's `encoding/json` `<`, `>`, `&`,
 * U+2028 and U+2029 (`\u003c`), .NET's `System.Text.Json` non-ASCII and `<`, `>`, `&`, `"`, `'`,
 * `+`, `` ` `` in upper-case hex (`\u003C`).
 */
function jsonForms(value: string, add: (form: string) => void, all: boolean): void {
  const json = JSON.stringify(value).slice(1, -1);
  add(json);
  if (!all) return;
  const ascii = json.replace(/[\u0080-\uffff]/g, unicodeEscape(false));
  add(ascii);
  // PHP's json_encode also writes `/` as `\/`.
  add(ascii.replaceAll('/', '\\/'));
  add(json.replace(/[<>&\u2028\u2029]/g, unicodeEscape(false)));
  // In the JSON text a `"` of the value is `\"`: .NET writes it `\u0022`.
  add(json.replace(/\\"/g, '\\u0022').replace(/[\u0080-\uffff]|[<>&'+`]/g, unicodeEscape(true)));
}

/**
 * The value percent-encoded as the common encoders do: `encodeURIComponent` (leaves
 * `!'()*~`); RFC 3986 strictly, leaving only `A-Z a-z 0-9 - . _ ~` (curl's `--data-urlencode`, Go's
 * `url.QueryEscape`, Python's `quote(v, safe='')` and `quote_plus`); an HTML form
 * (`URLSearchParams`, `application/x-www-form-urlencoded`: leaves `*`, encodes `~`); Go's
 * `url.PathEscape` (a path segment: strict, but `$ & + : = @` kept); each with `+` for a space as
 * well as `%20`, and each in lower-case hex as well (`%2f`: .NET's `HttpUtility.UrlEncode` and
 * other encoders write it so). At most 16 forms, fewer when spellings coincide: a value without
 * characters these encoders escape has one.
 */
function urlForms(value: string, add: (form: string) => void, all: boolean): void {
  let url: string;
  try {
    url = encodeURIComponent(value);
  } catch {
    // A lone surrogate has no URL encoding, and so cannot appear URL-encoded either.
    return;
  }
  const strict = url.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (!all) {
    add(url);
    add(strict);
    return;
  }
  const form = strict.replaceAll('%2A', '*').replaceAll('~', '%7E');
  const pathSegment = strict.replace(/%(?:24|26|2B|3A|3D|40)/g, (e) =>
    String.fromCharCode(Number.parseInt(e.slice(1), 16)),
  );
  for (const encoded of [url, strict, form, pathSegment]) {
    const spaced = encoded.includes('%20') ? [encoded, encoded.replaceAll('%20', '+')] : [encoded];
    for (const spelling of spaced) {
      add(spelling);
      // Only a hex letter differs in lower case (%2F/%2f); %20 or %40 stay as they are.
      if (HEX_LETTER_ESCAPE.test(spelling)) add(spelling.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()));
    }
  }
}

const HEX_LETTER_ESCAPE = /%(?:[A-F][0-9A-F]|[0-9][A-F])/;

/** The value and its JSON, URL, base64 (whole and inside longer text) and hex spellings. */
function encodedForms(value: string, add: (form: string) => void): void {
  add(value);
  const bytes = Buffer.from(value, 'utf8');
  const n = bytes.length;
  jsonForms(value, add, n <= MAX_ALL_FORMS_BYTES);
  urlForms(value, add, n <= MAX_ALL_FORMS_BYTES);
  const b64 = bytes.toString('base64');
  add(b64);
  add(b64.replace(/=+$/, ''));
  add(bytes.toString('base64url'));
  for (let k = 0; k < 3; k++) {
    const encoded = k === 0 ? b64 : Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    add(encoded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + n)) / 6)));
  }
  if (n <= MAX_HEX_BYTES) {
    const hex = bytes.toString('hex');
    add(hex);
    add(hex.toUpperCase());
  }
}
