// The counter web app over the WebAssembly client. Build and serve it as
// docs/GUIDE.md ("In the browser") shows for todos; from this directory:
//
//   GOOS=js GOARCH=wasm go build -o dist/counter.wasm ../cmd/counter-wasm
//   cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" dist/
//   go run ../cmd/counter-server --dev-key dev --web .   # then open /?key=dev
//
// (In an app made by bsgen init, cmd/ is at the module's root: ../../cmd.)
import { start, connect } from "./better-state.js";
import { openCounter } from "./counter.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

async function act(fn) {
  $("error").textContent = "";
  try {
    await fn();
  } catch (e) {
    $("error").textContent = `${e.code || "error"}: ${e.message}`;
  }
}

async function main() {
  await start({ wasm: "dist/counter.wasm" });
  const ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/ws";
  const client = await connect(ws, { app: "counter", apiKey: params.get("key") || "", token: params.get("token") || "" });
  client.onStatus((online) => { $("status").textContent = online ? "online" : "offline"; });
  client.onReject((r) => { $("error").textContent = `refused: ${r.action} (${r.code})`; });
  const counter = await openCounter(client, params.get("counter") || "main");
  const render = (c) => {
    $("n").textContent = String(c.n);
    $("by").textContent = c.last_by ? `last by ${c.last_by}` : "";
  };
  counter.subscribe(render);
  render(counter.get());
  $("plus").onclick = () => act(() => counter.add(1));
  $("minus").onclick = () => act(() => counter.add(-1));
  $("reset").onclick = () => act(() => counter.reset());
  window.counterApp = { client, counter };
  document.body.dataset.ready = "1";
}

main().catch((e) => { $("error").textContent = String(e); });
