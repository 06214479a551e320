// The browser test call (AYBIZA): microphone -> 8 kHz mu-law frames -> WS /web/call; the
// agent's audio back through a small jitter buffer; control messages as JSON text
// (docs/dashboard.md, "Talk to an agent from the browser"). No libraries.
"use strict";

const agentId = decodeURIComponent(location.pathname.split("/")[2] || "");
const byId = (id) => document.getElementById(id);
const call = { socket: null, context: null, stream: null, player: null, id: null, over: false };

function status(text) {
  byId("status").textContent = text;
}

function transcriptLine(speaker, text) {
  const item = document.createElement("li");
  item.dataset.speaker = speaker;
  item.textContent = `${speaker === "caller" ? "You" : "Agent"}: ${text}`;
  byId("transcript").append(item);
}

function send(message) {
  if (call.socket && call.socket.readyState === WebSocket.OPEN) call.socket.send(message);
}

async function openAudio() {
  call.stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  call.context = new AudioContext();
  await call.context.audioWorklet.addModule("/talk/talk-worklet.js");
  const microphone = call.context.createMediaStreamSource(call.stream);
  const capture = new AudioWorkletNode(call.context, "capture-8k");
  capture.port.onmessage = (event) => send(event.data);
  microphone.connect(capture);
  // The capture node outputs silence; connected, the graph keeps pulling it.
  capture.connect(call.context.destination);
  call.player = new AudioWorkletNode(call.context, "player-8k", {
    outputChannelCount: [1],
    processorOptions: { prebufferMs: 80 },
  });
  call.player.port.onmessage = (event) => send(JSON.stringify({ type: "mark", name: event.data.mark }));
  call.player.connect(call.context.destination);
}

function onMessage(event) {
  if (typeof event.data !== "string") {
    call.player.port.postMessage({ audio: event.data }, [event.data]);
    return;
  }
  const message = JSON.parse(event.data);
  if (message.type === "start") {
    call.id = message.call_id;
    byId("hangup").disabled = false;
    status("Connected: speak to the agent");
  } else if (message.type === "mark") {
    call.player.port.postMessage({ mark: message.name });
  } else if (message.type === "clear") {
    call.player.port.postMessage({ clear: true });
  } else if (message.type === "transcript") {
    transcriptLine(message.speaker, message.text);
  } else if (message.type === "end") {
    status(`Call ended (${message.reason || "hang-up"})`);
    call.over = true;
  }
}

function onClose(event) {
  if (!call.id) status(`Could not call: ${event.reason || `connection closed (code ${event.code})`}`);
  else if (!call.over) status(event.reason ? `Call ended: ${event.reason}` : `Call ended (code ${event.code})`);
  call.over = true;
  if (call.stream) call.stream.getTracks().forEach((track) => track.stop());
  if (call.context) call.context.close();
  byId("hangup").disabled = true;
  byId("start").disabled = false;
  if (call.id) showRecording(call.id);
}

async function showRecording(callId) {
  byId("call-link").href = `/calls/${callId}`;
  for (let attempt = 0; attempt < 60; attempt += 1) {
    const response = await fetch(`/v1/calls/${callId}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const record = await response.json();
    if (record.recording) {
      byId("recording").src = record.recording.url;
      byId("after").hidden = false;
      return;
    }
    if (record.ended_at && attempt > 10) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  byId("after").hidden = false;
  byId("recording").hidden = true;
  byId("call-link").textContent = "Call details (this agent does not record calls)";
}

async function start() {
  byId("start").disabled = true;
  byId("transcript").replaceChildren();
  byId("after").hidden = true;
  byId("recording").hidden = false;
  Object.assign(call, { id: null, over: false });
  status("Starting the microphone…");
  try {
    await openAudio();
  } catch (error) {
    status(`No microphone: ${error.message}`);
    byId("start").disabled = false;
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  call.socket = new WebSocket(`${scheme}://${location.host}/web/call?agent_id=${encodeURIComponent(agentId)}`);
  call.socket.binaryType = "arraybuffer";
  call.socket.onmessage = onMessage;
  call.socket.onclose = onClose;
  status("Calling…");
}

byId("agent-id").textContent = agentId;
byId("start").addEventListener("click", start);
byId("hangup").addEventListener("click", () => {
  send(JSON.stringify({ type: "hangup" }));
  status("Hanging up…");
});
