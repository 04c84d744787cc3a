// The todos web app: plain JavaScript over the WebAssembly client. The
// list is ?list=NAME (default "main"); the key is ?key=API_KEY or a token
// in ?token= (for a demo; a real app gets a token from its backend).
import { start, connect } from "./better-state.js";
import { openList } from "./todos.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const listName = params.get("list") || "main";

function render(list) {
  const ul = $("items");
  ul.textContent = "";
  for (const it of list.items || []) {
    const li = document.createElement("li");
    li.dataset.id = it.id;
    li.className = it.done ? "done" : "";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = it.done;
    box.onchange = () => act(() => store.toggle(it.id));
    const span = document.createElement("span");
    span.textContent = it.title;
    const rm = document.createElement("button");
    rm.textContent = "×";
    rm.title = "Remove";
    rm.className = "remove";
    rm.onclick = () => act(() => store.remove(it.id));
    li.append(box, span, rm);
    ul.append(li);
  }
  $("meta").textContent = `seq ${store.seq()} · ${store.pending()} pending`;
  $("meta").dataset.pending = String(store.pending());
}

// act runs an action; a refusal made in the page is shown at once.
async function act(fn) {
  $("error").textContent = "";
  try {
    await fn();
  } catch (e) {
    $("error").textContent = `${e.code || "error"}: ${e.message}`;
  }
}

let store;

async function main() {
  const t0 = performance.now();
  await start({ wasm: "dist/todos.wasm" });
  const ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/ws";
  const client = await connect(ws, { app: "todos", apiKey: params.get("key") || "", token: params.get("token") || "" });
  // A refusal by the server (another page removed the item first, say)
  // reaches the page that made the action, once.
  client.onReject((r) => { $("error").textContent = `refused: ${r.action} (${r.code}): ${r.message}`; });
  client.onStatus((online) => { $("status").textContent = online ? "online" : "offline"; });
  store = await openList(client, listName);
  store.subscribe(render);
  render(store.get());
  document.body.dataset.ready = "1";
  window.todosFirstRenderMs = performance.now() - t0;
  $("add").addEventListener("submit", (e) => {
    e.preventDefault();
    const title = $("title").value;
    $("title").value = "";
    act(() => store.add(title));
  });
  window.todos = { store, client };
  // Hidden (another tab, a reload, closing): save the newest state now.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") client.flush();
  });
}

main().catch((e) => { $("error").textContent = String(e); });

// A service worker keeps the page's files, so that it loads (and shows
// its queue) while offline.
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js");
