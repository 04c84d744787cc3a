// Types of better-state.js, the page's side of the WebAssembly client.

/** A refusal by the server of an action this page made. */
export interface Rejection {
  key: string;
  mid: number;
  action: string;
  code: string;
  message: string;
}

/** The store of one key, untyped; bsgen's PKG.js wraps it with types. */
export interface RawStore {
  readonly key: string;
  get(): unknown;
  subscribe(fn: (state: unknown) => void): () => void;
  /** Runs the action in the page and queues it; rejects with an Error whose code is the refusal's. */
  mutate(action: string, argsJSON: string): Promise<void>;
  pending(): number;
  seq(): number;
}

/** This tab's client: one per tab, with its own id and queue. */
export interface Client {
  readonly id: string;
  open(typeName: string, key: string): Promise<RawStore>;
  status(): { online: boolean; pending: number };
  onReject(fn: (r: Rejection) => void): void;
  onStatus(fn: (online: boolean) => void): void;
  /** Saves the confirmed states now (the client does every 200 ms); call it when the page is hidden. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Loads Go's wasm_exec.js and the app's WebAssembly client, once. */
export declare function start(opts: { wasm: string; wasmExec?: string }): Promise<unknown>;

/** Opens this tab's client of the server at url (ws:// or wss://). */
export declare function connect(url: string, opts?: { app?: string; apiKey?: string; token?: string | (() => string | Promise<string>) }): Promise<Client>;

/** This tab's client id: its own before a reload, a closed tab's, or a new one (per app and user scope). */
export declare function takeSlot(app: string, scope?: string): Promise<string>;

/** The user a credential names (a token's ns and sub, or a hash of an API key), for slots. */
export declare function scopeOf(cred: { apiKey?: string; token?: string }): Promise<string>;
