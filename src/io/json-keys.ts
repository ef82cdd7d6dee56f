/**
 * Duplicate-key detection for JSON text. `JSON.parse` silently keeps the last of two equal keys;
 * formats where a repeated name is a contradiction (a safetensors header naming a tensor twice)
 * use this to refuse it instead.
 */

/** Returns the first key that appears twice in one object of valid JSON `text` (as `outer.inner`), or undefined. */
export function firstDuplicateKey(text: string): string | undefined {
  const stack: { keys: Set<string> | null; key: string }[] = [];
  const isWs = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "{") stack.push({ keys: new Set(), key: "" });
    else if (c === "[") stack.push({ keys: null, key: "" });
    else if (c === "}" || c === "]") stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const raw = text.slice(i, j + 1);
      i = j;
      let k = j + 1;
      while (k < text.length && isWs(text[k]!)) k++;
      const top = stack[stack.length - 1];
      if (text[k] === ":" && top?.keys) {
        const key = JSON.parse(raw) as string;
        if (top.keys.has(key)) return [...stack.slice(0, -1).map((s) => s.key).filter((s) => s), key].join(".");
        top.keys.add(key);
        top.key = key;
      }
    }
  }
  return undefined;
}
