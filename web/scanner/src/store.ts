/**
 * The device's storage (IndexedDB): the last good bundle, the highest accepted
 * versions, the pinned roots, the parts of the index in force (by address),
 * the settings and the local scan log.
 */

const DB_NAME = "hcert-scanner";
const DB_VERSION = 2;

export interface LogEntry {
  /** Unix milliseconds. */
  readonly t: number;
  readonly verdict: "ACCEPT" | "REJECT";
  readonly code: string;
  /** Certificate id (jti), never the name. */
  readonly jti: string | null;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let opened: Promise<IDBDatabase> | null = null;

function db(): Promise<IDBDatabase> {
  if (opened === null) {
    opened = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const d = req.result;
        if (!d.objectStoreNames.contains("kv")) d.createObjectStore("kv");
        if (!d.objectStoreNames.contains("log")) d.createObjectStore("log", { autoIncrement: true });
        if (!d.objectStoreNames.contains("parts")) d.createObjectStore("parts");
      };
      req.onsuccess = () => {
        // A newer version of this page opening the store waits for this one to let go: let go.
        req.result.onversionchange = () => {
          req.result.close();
          opened = null; // the next use opens the store again (after the newer page's upgrade)
        };
        resolve(req.result);
      };
      req.onerror = () => reject(req.error);
      // An older page in another tab holds the store open: the page says to close it (the open goes on then).
      req.onblocked = () => window.dispatchEvent(new Event("hcert-store-blocked"));
    });
  }
  return opened;
}

/** Read one value of the key-value store. */
export async function getValue<T>(key: string): Promise<T | undefined> {
  const tx = (await db()).transaction("kv", "readonly");
  return (await request(tx.objectStore("kv").get(key))) as T | undefined;
}

/** Write several values in one transaction (all or none). */
export async function putValues(values: Record<string, unknown>): Promise<void> {
  const tx = (await db()).transaction("kv", "readwrite");
  const store = tx.objectStore("kv");
  for (const [key, value] of Object.entries(values)) store.put(value, key);
  await done(tx);
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** The parts at hand among `addresses` (bytes by address). */
export async function getParts(addresses: string[]): Promise<Map<string, Uint8Array>> {
  const store = (await db()).transaction("parts", "readonly").objectStore("parts");
  const got = await Promise.all(addresses.map((a) => request(store.get(a)) as Promise<Uint8Array | undefined>));
  const out = new Map<string, Uint8Array>();
  got.forEach((data, i) => {
    if (data instanceof Uint8Array) out.set(addresses[i]!, data);
  });
  return out;
}

/** How many parts the device holds. */
export async function countParts(): Promise<number> {
  return request((await db()).transaction("parts", "readonly").objectStore("parts").count());
}

/**
 * In one transaction (all or none): read the stored `state`, write what
 * `values` makes of it (a function that throws aborts the transaction and
 * the error is thrown here), add the `added` parts and, with `keep`, delete
 * every part that `keep` does not name.
 */
export async function commitParts(
  values: Record<string, unknown> | ((state: unknown) => Record<string, unknown>),
  added: Map<string, Uint8Array>,
  keep: ReadonlySet<string> | null,
): Promise<void> {
  const tx = (await db()).transaction(["kv", "parts"], "readwrite");
  const finished = done(tx);
  try {
    const kv = tx.objectStore("kv");
    const written = typeof values === "function" ? values(await request(kv.get("state"))) : values;
    for (const [key, value] of Object.entries(written)) kv.put(value, key);
    const parts = tx.objectStore("parts");
    for (const [address, data] of added) parts.put(data, address);
    if (keep !== null) {
      const held = (await request(parts.getAllKeys())) as string[];
      for (const address of held) if (!keep.has(address)) parts.delete(address);
    }
  } catch (e) {
    tx.abort();
    await finished.catch(() => undefined);
    throw e;
  }
  await finished;
}

/** Append a scan to the log. */
export async function addLog(entry: LogEntry): Promise<void> {
  const tx = (await db()).transaction("log", "readwrite");
  await request(tx.objectStore("log").add(entry));
}

/** The newest `limit` log entries, newest first. */
export async function readLog(limit = 50): Promise<LogEntry[]> {
  const tx = (await db()).transaction("log", "readonly");
  const all = (await request(tx.objectStore("log").getAll())) as LogEntry[];
  return all.slice(-limit).reverse();
}

/** Count scans since `since` (Unix milliseconds). */
export async function countSince(since: number): Promise<number> {
  const tx = (await db()).transaction("log", "readonly");
  const all = (await request(tx.objectStore("log").getAll())) as LogEntry[];
  return all.filter((e) => e.t >= since).length;
}

/** Delete the whole log. */
export async function clearLog(): Promise<void> {
  const tx = (await db()).transaction("log", "readwrite");
  await request(tx.objectStore("log").clear());
}
