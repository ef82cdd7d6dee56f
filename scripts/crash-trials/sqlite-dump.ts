/**
 * A canonical text dump of an SQLite database (schema, then every table's rows in sorted order), so
 * two databases with the same content compare equal whatever their page layout: a resumed run
 * writes its pages in another order than an uninterrupted one.
 */
import Database from "better-sqlite3";

/** Returns the dump of the database `bytes`, with `mask` applied to each line. */
export function sqliteDump(bytes: Buffer, mask: (line: string) => string = (l) => l): Buffer {
  const db = new Database(bytes);
  try {
    const lines: string[] = [];
    const objects = db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").all() as { type: string; name: string; sql: string | null }[];
    for (const o of objects) lines.push(`${o.type} ${o.name}: ${o.sql ?? ""}`);
    for (const o of objects.filter((x) => x.type === "table")) {
      const table = `"${o.name.replace(/"/g, '""')}"`;
      const n = (db.pragma(`table_info(${table})`) as unknown[]).length;
      const order = Array.from({ length: n }, (_, i) => i + 1).join(", ");
      for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).raw().iterate()) lines.push(`${o.name} ${JSON.stringify(row)}`);
    }
    return Buffer.from(lines.map(mask).join("\n"));
  } finally {
    db.close();
  }
}
