// A small page script in TypeScript over the generated todos.d.ts: the
// web test type-checks it with tsc --strict, and each line expected to be
// an error below must be one.
import { start, connect, type Rejection } from "./better-state.js";
import { openList, type List, type ListStore } from "./todos.js";

export async function main(): Promise<void> {
  await start({ wasm: "dist/todos.wasm" });
  const client = await connect("ws://127.0.0.1:8080/v1/ws", { app: "todos", apiKey: "dev" });
  client.onReject((r: Rejection) => console.log(r.action, r.code));
  const list: ListStore = await openList(client, "list-1");
  const stop = list.subscribe((l: List) => {
    for (const it of l.items ?? []) console.log(it.id, it.title, it.done ? "done" : "open");
  });
  await list.add("milk");
  await list.rename("some-id", "oat milk");
  await list.toggle("some-id");
  const owner: string | undefined = list.get().owner;
  console.log(owner, list.pending(), list.seq());
  // @ts-expect-error: Add takes a title
  await list.add();
  // @ts-expect-error: a title is a string
  await list.add(42);
  // @ts-expect-error: done is a boolean
  const n: number = (list.get().items ?? [])[0].done;
  // @ts-expect-error: there is no such action
  await list.delete("x");
  console.log(n);
  stop();
}
