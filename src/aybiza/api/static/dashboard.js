// The dashboard's one script: the live calls page follows /live/events (Server-Sent Events)
// and redraws each call with DOM methods (text only: nothing from a call becomes markup).
"use strict";

function element(tag, attributes, children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children || []) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function ms(value) {
  return value === null || value === undefined ? "–" : `${value} ms`;
}

function liveCall(call, canHangUp, csrf) {
  const lines = call.transcript.map((line) =>
    element("li", {}, [element("span", { class: "speaker" }, [line.speaker]), ` ${line.text}`]));
  const rows = call.turns.map((turn) => element("tr", {}, [
    element("td", {}, [String(turn.index)]),
    element("td", {}, [ms(turn.voice_to_voice_ms)]),
    element("td", {}, [ms(turn.platform_added_ms)]),
  ]));
  const head = element("thead", {}, [element("tr", {}, [
    element("th", { scope: "col" }, ["Turn"]),
    element("th", { scope: "col" }, ["Voice-to-voice"]),
    element("th", { scope: "col" }, ["Platform added"]),
  ])]);
  const parts = [
    element("h2", {}, [element("a", { href: `/calls/${call.id}` }, [`${call.from} → ${call.to}`])]),
    element("p", { class: "muted" }, [`${call.status} · ${call.carrier} · ${call.agent || "no agent"}`]),
    element("ol", { class: "transcript" }, lines),
    element("table", {}, [head, element("tbody", {}, rows)]),
  ];
  if (canHangUp) {
    const token = () => element("input", { type: "hidden", name: "csrf_token", value: csrf });
    parts.push(element("div", { class: "actions" }, [
      element("form", { method: "post", action: `/calls/${call.id}/hangup` }, [
        token(),
        element("button", { type: "submit", class: "danger" }, ["Hang up"]),
      ]),
      element("form", { method: "post", action: `/calls/${call.id}/transfer`, class: "inline" }, [
        token(),
        element("label", { for: `to-${call.id}` }, ["Transfer to"]),
        element("input", { id: `to-${call.id}`, name: "to", required: "" }),
        element("button", { type: "submit", class: "secondary" }, ["Transfer"]),
      ]),
    ]));
  }
  return element("article", { class: "live-call", "data-call-id": call.id }, parts);
}

function followLiveCalls(container) {
  const state = document.getElementById("live-state");
  const canHangUp = container.dataset.canHangUp === "yes";
  const source = new EventSource(container.dataset.events);
  source.addEventListener("calls", (event) => {
    const calls = JSON.parse(event.data);
    container.replaceChildren(...calls.map((call) => liveCall(call, canHangUp, container.dataset.csrf)));
    state.textContent = `${calls.length} live call${calls.length === 1 ? "" : "s"}.`;
  });
  source.addEventListener("signed-out", () => {
    source.close();
    state.textContent = "Signed out: sign in again to follow live calls.";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live-calls");
  if (live) followLiveCalls(live);
});
