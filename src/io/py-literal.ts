/**
 * A strict parser for the Python literals that a .npy header holds (NumPy reads the header with
 * `ast.literal_eval`): dicts, tuples, lists, strings, decimal integers, True, False and None. What
 * `literal_eval` refuses (a missing brace, trailing text, NUL bytes, `(20, 5,, )`, floats where
 * NumPy wants ints) is a syntax error here too; a key repeated in one dict is an error too, because
 * NumPy would silently take the last one.
 */

/** A parsed Python literal. */
export type PyValue = string | bigint | boolean | null | PyValue[] | PyTuple | Map<string, PyValue>;

/** A Python tuple (kept apart from lists: NumPy requires the shape to be a tuple). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** Parses `text` as one Python literal (surrounding whitespace allowed), throwing an Error that says where it fails. */
export function parsePyLiteral(text: string): PyValue {
  let i = 0;
  const fail = (msg: string): never => {
    throw new Error(`${msg} at character ${i}`);
  };
  const ws = (): void => {
    while (i < text.length && " \t\n\r\f".includes(text[i]!)) i++;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === undefined) return fail("unexpected end");
    if (c === "{") return dict();
    if (c === "(") return seq(")");
    if (c === "[") return seq("]");
    if (c === "'" || c === '"') return str();
    if (c === "-" || c === "+" || (c >= "0" && c <= "9")) return int();
    for (const [word, v] of [["True", true], ["False", false], ["None", null]] as const) {
      if (text.startsWith(word, i) && !/[A-Za-z0-9_]/.test(text[i + word.length] ?? "")) {
        i += word.length;
        return v;
      }
    }
    return fail(`unexpected ${JSON.stringify(c)}`);
  };
  const dict = (): Map<string, PyValue> => {
    i++;
    const out = new Map<string, PyValue>();
    for (;;) {
      ws();
      if (text[i] === "}") {
        i++;
        return out;
      }
      const keyAt = i;
      const key = value();
      if (typeof key !== "string") fail("a header key must be a string");
      ws();
      if (text[i] !== ":") fail('expected ":"');
      i++;
      const v = value();
      if (out.has(key as string)) {
        i = keyAt;
        fail(`key '${key as string}' appears twice`);
      }
      out.set(key as string, v);
      ws();
      if (text[i] === ",") i++;
      else if (text[i] !== "}") fail('expected "," or "}"');
    }
  };
  const seq = (close: ")" | "]"): PyValue => {
    i++;
    const items: PyValue[] = [];
    let comma = false;
    for (;;) {
      ws();
      if (text[i] === close) {
        i++;
        // `(5)` is the integer 5, not a tuple; `(5,)` and `()` are tuples.
        if (close === ")" && items.length === 1 && !comma) return items[0]!;
        return close === ")" ? new PyTuple(items) : items;
      }
      items.push(value());
      ws();
      comma = text[i] === ",";
      if (comma) i++;
      else if (text[i] !== close) fail(`expected "," or "${close}"`);
    }
  };
  const str = (): string => {
    const q = text[i]!;
    let out = "";
    for (i++; ; i++) {
      const c = text[i];
      if (c === undefined || c === "\n") return fail("unterminated string");
      if (c === q) {
        i++;
        return out;
      }
      if (c === "\\") return fail("escapes in header strings are not supported");
      out += c;
    }
  };
  const int = (): bigint => {
    const m = /^[-+]?(0|[1-9][0-9]*)L?(?![.eEjJxXoObB_0-9])/.exec(text.slice(i, i + 400));
    if (!m) return fail("expected an integer");
    i += m[0].length;
    return BigInt(m[0].replace(/L$/, "").replace(/^\+/, ""));
  };
  const v = value();
  ws();
  if (i !== text.length) fail("unexpected text after the literal");
  return v;
}
